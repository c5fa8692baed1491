"""Runs the QBFT core inside a node: feeds it messages, timers and built blocks, and carries out
what it asks (persist, broadcast, build, commit) in the order it asks.

All inputs go through one queue and are handled one at a time, so the core and the application it
drives never see concurrent calls. Block building, validation and commits execute the EVM and
run in a worker thread, off the event loop that serves JSON-RPC and peers.

A height starts lazily: when this validator has transactions to include, when a peer's message
for that height arrives, or when the heartbeat is due. An idle network therefore makes no
empty blocks and runs no round timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cityledger.node.config import EngineSettings
from cityledger.node.consensus.core import (
    Broadcast,
    BuildBlock,
    Decide,
    Equivocation,
    Output,
    Persist,
    QbftCore,
    ScheduleTimeout,
)
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.journal import ConsensusJournal
from cityledger.node.consensus.messages import CandidateBlock, SignedMessage
from cityledger.node.consensus.signing import Address, MessageSigner

log = logging.getLogger("cityledger.node.consensus")

# Consensus messages one peer may have waiting in the engine's inbox; beyond it the peer is told
# to slow down (an honest one re-sends what matters: round changes on every timeout).
MAX_QUEUED_PER_PEER = 256


class ConsensusApplication(Protocol):
    """What consensus needs from the application it orders blocks for (as ABCI has it); the node
    implements it as `cityledger.node.production.producer.BlockProducer`."""

    def next_height(self) -> int:
        """The height after the last final block."""
        ...

    def validators_at(self, height: int) -> tuple[Address, ...]:
        """The validator set of `height`: Consortium.getValidators() after block height-1."""
        ...

    def has_pending_work(self) -> bool:
        """Transactions wait in the pool."""
        ...

    def build_block(self, height: int) -> CandidateBlock:
        """Executes pending transactions into a block on the last final one."""
        ...

    def validate_block(self, height: int, block: CandidateBlock) -> bool:
        """Decodes and executes a proposed block; True if it is a valid next block."""
        ...

    def commit_block(self, block: CandidateBlock, certificate: FinalityCertificate) -> None:
        """Writes a final block with its certificate, atomically."""
        ...


class ConsensusTransport(Protocol):
    def broadcast(self, message: SignedMessage) -> None:
        """Sends to every other validator; returns at once."""
        ...


@dataclass(frozen=True)
class _Message:
    message: SignedMessage
    peer: Address  # who handed it over (the envelope's signer); not always its signer


@dataclass(frozen=True)
class _Timeout:
    height: int
    round: int


@dataclass(frozen=True)
class _Synced:
    block: CandidateBlock
    certificate: FinalityCertificate
    applied: asyncio.Future[bool]


class _Wake:
    """Transactions arrived, or a periodic check is due."""


_Input = _Message | _Timeout | _Synced | _Wake


class ConsensusEngine:
    def __init__(
        self,
        signer: MessageSigner,
        chain_id: int,
        application: ConsensusApplication,
        transport: ConsensusTransport,
        journal: ConsensusJournal,
        settings: EngineSettings,
        on_behind: Callable[[int], None] | None = None,
    ) -> None:
        self._application = application
        self._transport = transport
        self._journal = journal
        self._settings = settings
        self._on_behind = on_behind
        self._core = QbftCore(signer, chain_id, application.validate_block, settings.timeouts)
        # Unbounded as a queue, bounded by what goes in: a share per peer for messages, at most
        # one wake pending, one timer and the syncs that sync awaits one at a time.
        self._inbox: asyncio.Queue[_Input] = asyncio.Queue()
        self._queued: dict[Address, int] = {}
        self._wake_pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._wake_timer: asyncio.TimerHandle | None = None
        self._started_height: int | None = None
        # With a heartbeat, the first block is due at once: a fresh network shows it is live.
        self._last_final = float("-inf")
        self._stopped = False

    # ------------------------------------------------------------ inputs (any task)

    def submit(self, message: SignedMessage, peer: Address) -> bool:
        """Queues a message `peer` sent; False (and nothing queued) if that peer's share of
        the inbox is full."""
        queued = self._queued.get(peer, 0)
        if queued >= MAX_QUEUED_PER_PEER:
            return False
        self._queued[peer] = queued + 1
        self._inbox.put_nowait(_Message(message, peer))
        return True

    async def apply_synced(self, block: CandidateBlock, certificate: FinalityCertificate) -> bool:
        """Commits a final block fetched from a peer, whose certificate the caller verified.
        False if the chain is no longer at that height or the block does not execute, or if
        the engine has stopped (nothing would ever answer)."""
        if self._stopped:
            return False
        applied: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Synced(block, certificate, applied))
        return await applied

    def wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self._inbox.put_nowait(_Wake())

    def stop(self) -> None:
        self._stopped = True
        self._inbox.put_nowait(_Wake())

    @property
    def height(self) -> int | None:
        """The height in progress; None while idle (the last one started is decided)."""
        return None if self._core.decision is not None else self._core.height

    @property
    def round(self) -> int | None:
        return None if self._core.decision is not None else self._core.round

    # ------------------------------------------------------------ loop

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while True:
                item = await self._inbox.get()
                if self._stopped:  # set by stop() while this task waited
                    break
                if isinstance(item, _Message):
                    self._queued[item.peer] -= 1
                    if not self._queued[item.peer]:
                        del self._queued[item.peer]
                elif isinstance(item, _Wake):
                    self._wake_pending = False
                await self._handle(item)
        finally:
            heartbeat.cancel()
            if self._timer is not None:
                self._timer.cancel()
            while not self._inbox.empty():
                item = self._inbox.get_nowait()
                if isinstance(item, _Synced):
                    item.applied.set_result(False)

    async def _heartbeat(self) -> None:
        """Wakes the loop now and then, so a heartbeat block or a stuck start is noticed."""
        period = min(1.0, self._settings.heartbeat_seconds or 1.0)
        while True:
            await asyncio.sleep(period)
            self.wake()

    async def _handle(self, item: _Input) -> None:
        next_height = self._application.next_height()
        if isinstance(item, _Synced):
            item.applied.set_result(await self._apply_synced(item, next_height))
            return
        if isinstance(item, _Message):
            height = item.message.height
            if height > next_height and self._on_behind is not None:
                self._on_behind(height)
            if self._started_height != next_height and height == next_height:
                await self._start(next_height)
            await self._step(lambda: self._core.handle_message(item.message))
            return
        if isinstance(item, _Timeout):
            await self._step(lambda: self._core.handle_timeout(item.height, item.round))
            return
        if self._started_height != next_height and self._should_start():
            await self._start(next_height)

    async def _apply_synced(self, item: _Synced, next_height: int) -> bool:
        if item.certificate.height != next_height:
            return False
        if not await asyncio.to_thread(self._application.validate_block, next_height, item.block):
            log.warning("a synced block does not execute", extra={"block": next_height})
            return False
        await asyncio.to_thread(self._application.commit_block, item.block, item.certificate)
        self._finalized(item.certificate)
        return True

    def _should_start(self) -> bool:
        wait = self._last_final + self._settings.block_period_seconds - time.monotonic()
        if wait > 0:
            self._wake_in(wait)
            return False
        if self._application.has_pending_work():
            return True
        beat = self._settings.heartbeat_seconds
        return beat is not None and time.monotonic() - self._last_final >= beat

    def _wake_in(self, seconds: float) -> None:
        if self._wake_timer is not None:
            self._wake_timer.cancel()
        self._wake_timer = asyncio.get_running_loop().call_later(seconds, self.wake)

    async def _start(self, height: int) -> None:
        validators = self._application.validators_at(height)
        self._started_height = height
        if self._core.address not in validators:
            return  # not a validator at this height: follow the chain by sync only
        resume = self._journal.load()
        log.debug("height started", extra={"height": height, "validators": len(validators)})
        await self._step(
            lambda: self._core.start_height(
                height, validators, resume if resume and resume.height == height else None
            )
        )

    async def _step(self, step: Callable[[], list[Output]]) -> None:
        outputs = await asyncio.to_thread(step)
        for output in outputs:
            await self._carry_out(output)

    async def _carry_out(self, output: Output) -> None:
        if isinstance(output, Persist):
            await asyncio.to_thread(self._journal.save, output.state)
        elif isinstance(output, Broadcast):
            self._transport.broadcast(output.message)
        elif isinstance(output, ScheduleTimeout):
            self._set_timer(output)
        elif isinstance(output, BuildBlock):
            block = await asyncio.to_thread(self._application.build_block, output.height)
            await self._step(
                lambda: self._core.handle_built_block(output.height, output.round, block)
            )
        elif isinstance(output, Decide):
            if output.certificate.height != self._application.next_height():
                return  # sync already brought this block in
            await asyncio.to_thread(
                self._application.commit_block, output.block, output.certificate
            )
            self._finalized(output.certificate)
        elif isinstance(output, Equivocation) and await asyncio.to_thread(
            self._journal.record_evidence, output
        ):
            log.warning(
                "equivocation",
                extra={
                    "validator": "0x" + output.first.sender.hex(),
                    "height": output.first.height,
                    "round": output.first.round,
                    "kind": output.first.kind.name,
                },
            )

    def _set_timer(self, timeout: ScheduleTimeout) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(
            timeout.seconds, self._inbox.put_nowait, _Timeout(timeout.height, timeout.round)
        )

    def _finalized(self, certificate: FinalityCertificate) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_final = time.monotonic()
        log.info(
            "block final",
            extra={
                "block": certificate.height,
                "hash": "0x" + certificate.block_hash.hex(),
                "round": certificate.round,
                "seals": len(certificate.seals),
            },
        )
        # More work may be waiting: look again right away rather than at the next heartbeat.
        self.wake()
