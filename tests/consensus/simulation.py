"""Deterministic simulation of a QBFT network built from real `QbftCore` instances.

One seeded random schedule drives everything: message delays, drops, duplicates (reordering
follows from random delays), partitions, crashes with restarts from what each validator
persisted, Byzantine validators, and a simple block sync (a validator that is behind fetches a
decided block with its finality certificate and verifies the seals before adopting it).
Byzantine validators are silent, equivocate, send garbage, send extreme field values (rounds at
and beyond the encodable range, floods of signed messages for later heights and rounds) as bytes
the receiver must decode, or propose forbidden blocks (blocks the application refuses, as a node
refuses a block holding a forbidden transaction). After the global stabilization time (GST) the
network is reliable, every crashed validator is back, and every honest validator must finish.
Safety (no two different blocks final at one height) is checked after every decision, and every
core's per-sender buffers against their bounds after every step.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from dataclasses import dataclass, field
from enum import Enum

from eth_utils import keccak

from cityledger.node.config import RoundTimeouts
from cityledger.node.consensus.core import (
    AHEAD_MESSAGES_PER_SENDER,
    FUTURE_MESSAGES_PER_SENDER,
    Broadcast,
    BuildBlock,
    Decide,
    DurableState,
    Equivocation,
    Output,
    Persist,
    QbftCore,
    ScheduleTimeout,
)
from cityledger.node.consensus.finality_certificate import FinalityCertificate, InvalidCertificate
from cityledger.node.consensus.messages import (
    MAX_ROUND,
    CandidateBlock,
    MalformedMessage,
    MessageKind,
    SignedMessage,
    sign_message,
)
from cityledger.node.consensus.signing import Address, KeySigner
from cityledger.node.storage.schema import evidence_key

CHAIN_ID = 2024
SIM_TIMEOUTS = RoundTimeouts(base=1.0, cap=8.0)


class Behaviour(Enum):
    HONEST = "honest"
    SILENT = "silent"
    EQUIVOCATING = "equivocating"
    GARBAGE = "garbage"
    EXTREME = "extreme"  # extreme field values and floods, as bytes on the wire
    FORBIDDEN = "forbidden"  # proposes blocks the application refuses


class SafetyViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Partition:
    start: float
    end: float
    side: frozenset[int]  # links between this side and the rest are cut


@dataclass(frozen=True)
class Crash:
    node: int
    start: float
    end: float


@dataclass(frozen=True)
class Schedule:
    seed: int
    validators: int = 4
    heights: int = 3
    byzantine: dict[int, Behaviour] = field(default_factory=dict)
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    max_delay: float = 0.5
    partitions: tuple[Partition, ...] = ()
    crashes: tuple[Crash, ...] = ()
    gst: float = 0.0
    timeouts: RoundTimeouts = SIM_TIMEOUTS
    deadline_after_gst: float = 600.0

    @staticmethod
    def random(seed: int) -> Schedule:
        """A random adversarial schedule that respects f = floor((n-1)/3) Byzantine validators."""
        rng = random.Random(seed)
        n = rng.choice([4, 4, 4, 5, 7])
        f = (n - 1) // 3
        byzantine: dict[int, Behaviour] = {
            i: rng.choice([b for b in Behaviour if b != Behaviour.HONEST])
            for i in rng.sample(range(n), rng.randint(0, f))
        }
        gst = rng.uniform(0.0, 40.0)
        partitions = tuple(
            Partition(
                start,
                start + rng.uniform(1, 20),
                frozenset(rng.sample(range(n), rng.randint(1, n - 1))),
            )
            for start in sorted(rng.uniform(0, gst) for _ in range(rng.randint(0, 2)))
        )
        crashes = tuple(
            Crash(node, start, min(gst, start + rng.uniform(0.5, 15)))
            for node in rng.sample(range(n), rng.randint(0, n - 1))
            if node not in byzantine
            for start in [rng.uniform(0, gst)]
        )
        return Schedule(
            seed=seed,
            validators=n,
            heights=rng.randint(2, 4),
            byzantine=byzantine,
            drop_rate=rng.choice([0.0, 0.05, 0.2, 0.4]),
            duplicate_rate=rng.choice([0.0, 0.1]),
            max_delay=rng.choice([0.1, 0.5, 2.0, 5.0]),
            partitions=partitions,
            crashes=crashes,
            gst=gst,
        )


@dataclass
class _Validator:
    index: int
    signer: KeySigner
    behaviour: Behaviour
    core: QbftCore | None = None
    up: bool = True
    epoch: int = 0  # bumped on crash so that timers set before it are void
    timer: int = 0  # id of the one pending round timer
    persisted: DurableState | None = None
    chain: dict[int, tuple[CandidateBlock, FinalityCertificate]] = field(default_factory=dict)

    @property
    def next_height(self) -> int:
        return len(self.chain) + 1


@dataclass(order=True)
class _Event:
    time: float
    seq: int
    kind: str = field(compare=False)
    node: int = field(compare=False)
    payload: object = field(compare=False, default=None)
    epoch: int = field(compare=False, default=0)


@dataclass
class Outcome:
    decided: dict[int, dict[int, bytes]]  # height -> validator -> block hash
    evidence: list[Equivocation]
    rounds_used: int
    messages_delivered: int
    finished_at: float
    refused_on_decoding: int = 0


def valid_block(height: int, block: CandidateBlock) -> bool:
    return block.hash == keccak(block.payload) and block.payload.startswith(b"valid:%d:" % height)


def _make_block(height: int, round_: int, proposer: int, salt: int) -> CandidateBlock:
    payload = b"valid:%d:%d:%d:%d" % (height, round_, proposer, salt)
    return CandidateBlock(keccak(payload), payload)


class Simulation:
    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.rng = random.Random(schedule.seed * 7919 + 1)
        self.validators = [
            _Validator(
                i,
                KeySigner(keccak(b"cityledger-sim-validator-%d" % i)),
                schedule.byzantine.get(i, Behaviour.HONEST),
            )
            for i in range(schedule.validators)
        ]
        self.addresses: tuple[Address, ...] = tuple(v.signer.address for v in self.validators)
        self.index_of = {a: i for i, a in enumerate(self.addresses)}
        self.queue: list[_Event] = []
        self.seq = 0
        self.now = 0.0
        self.decided: dict[int, dict[int, bytes]] = {}
        self.evidence: list[Equivocation] = []
        self.max_round = 0
        self.delivered = 0
        self.refused_on_decoding = 0

    # ------------------------------------------------------------ running

    def run(self) -> Outcome:
        for v in self.validators:
            if v.behaviour != Behaviour.SILENT:
                self._boot(v)
        for crash in self.schedule.crashes:
            self._push(crash.start, "crash", crash.node)
            self._push(crash.end, "restart", crash.node)
        for v in self.validators:
            self._push(self.schedule.timeouts.cap, "sync", v.index)
        deadline = self.schedule.gst + self.schedule.deadline_after_gst
        while self.queue and not self._all_honest_done():
            event = heapq.heappop(self.queue)
            if event.time > deadline:
                break
            self.now = event.time
            self._dispatch(event)
        missing = {
            v.index: v.next_height - 1
            for v in self._honest()
            if v.next_height <= self.schedule.heights
        }
        if missing:
            raise AssertionError(
                f"liveness: honest validators {missing} (index: last final height) did not finish "
                f"{self.schedule.heights} heights by GST+{self.schedule.deadline_after_gst}s;"
                f" {self.schedule}"
            )
        return Outcome(
            self.decided,
            self.evidence,
            self.max_round,
            self.delivered,
            self.now,
            self.refused_on_decoding,
        )

    def _honest(self) -> list[_Validator]:
        return [v for v in self.validators if v.behaviour == Behaviour.HONEST]

    def _all_honest_done(self) -> bool:
        return all(v.next_height > self.schedule.heights for v in self._honest())

    def _push(
        self, time: float, kind: str, node: int, payload: object = None, epoch: int = 0
    ) -> None:
        self.seq += 1
        heapq.heappush(self.queue, _Event(time, self.seq, kind, node, payload, epoch))

    def _dispatch(self, event: _Event) -> None:
        v = self.validators[event.node]
        if event.kind == "crash":
            v.up = False
            v.epoch += 1
            v.core = None
            return
        if event.kind == "restart":
            if not v.up:
                v.up = True
                self._boot(v)
            return
        if not v.up or v.core is None:
            return
        if event.kind == "deliver":
            assert isinstance(event.payload, SignedMessage)
            self.delivered += 1
            self._apply(v, v.core.handle_message(event.payload))
            self._check_bounds(v)
        elif event.kind == "deliver_bytes":
            assert isinstance(event.payload, bytes)
            try:
                message = SignedMessage.decode(event.payload)
            except MalformedMessage:
                self.refused_on_decoding += 1
                return
            self.delivered += 1
            self._apply(v, v.core.handle_message(message))
            self._check_bounds(v)
        elif event.kind == "timeout" and event.epoch == v.epoch:
            assert isinstance(event.payload, tuple)  # (height, round, timer id): see _apply
            height, round_, timer = event.payload
            if timer == v.timer:
                self._apply(v, v.core.handle_timeout(height, round_))
        elif event.kind == "sync_request":
            assert isinstance(event.payload, tuple)
            self._answer_sync(v, event.payload)
        elif event.kind == "sync_response":
            assert isinstance(event.payload, tuple)
            self._adopt(v, event.payload)
        elif event.kind == "sync" and event.epoch == v.epoch:
            self._request_sync(v)
            self._push(self.now + self.schedule.timeouts.cap, "sync", v.index, epoch=v.epoch)

    def _boot(self, v: _Validator) -> None:
        v.core = QbftCore(v.signer, CHAIN_ID, valid_block, self.schedule.timeouts)
        if v.next_height > self.schedule.heights:
            return
        resume = v.persisted if v.persisted and v.persisted.height == v.next_height else None
        self._apply(v, v.core.start_height(v.next_height, self.addresses, resume))
        if self.now > 0:
            self._push(self.now + self.schedule.timeouts.cap, "sync", v.index, epoch=v.epoch)

    # ------------------------------------------------------------ outputs

    def _apply(self, v: _Validator, outputs: list[Output]) -> None:
        for output in outputs:
            if isinstance(output, Persist):
                v.persisted = output.state
            elif isinstance(output, Broadcast):
                self._broadcast(v, output.message)
            elif isinstance(output, ScheduleTimeout):
                self.max_round = max(self.max_round, output.round)
                v.timer += 1  # the new timer replaces the pending one
                self._push(
                    self.now + output.seconds,
                    "timeout",
                    v.index,
                    (output.height, output.round, v.timer),
                    v.epoch,
                )
            elif isinstance(output, BuildBlock):
                assert v.core is not None
                block = _make_block(
                    output.height, output.round, v.index, self.rng.randrange(1 << 30)
                )

                self._apply(v, v.core.handle_built_block(output.height, output.round, block))
            elif isinstance(output, Decide):
                self._record_decision(v, output.block, output.certificate)
            elif isinstance(output, Equivocation):
                self._check_evidence(output)

    def _record_decision(
        self, v: _Validator, block: CandidateBlock, certificate: FinalityCertificate
    ) -> None:
        height = certificate.height
        if height != v.next_height:
            return
        certificate.verify(self.addresses)
        if v.behaviour == Behaviour.HONEST:
            at_height = self.decided.setdefault(height, {})
            for other, block_hash in at_height.items():
                if block_hash != block.hash:
                    raise SafetyViolation(
                        f"height {height}: validator {v.index} finalized {block.hash.hex()[:12]}, "
                        f"validator {other} finalized {block_hash.hex()[:12]}; {self.schedule}"
                    )
            at_height[v.index] = block.hash
        v.chain[height] = (block, certificate)
        if v.core is not None and v.next_height <= self.schedule.heights:
            self._apply(v, v.core.start_height(v.next_height, self.addresses))

    def _check_bounds(self, v: _Validator) -> None:
        assert v.core is not None
        for sender, (future, ahead) in v.core.held_by_sender().items():
            assert future <= FUTURE_MESSAGES_PER_SENDER, (sender.hex(), future, self.schedule)
            # Round changes that justify a proposal ride in beyond the sender's own share.
            assert ahead <= AHEAD_MESSAGES_PER_SENDER + len(self.validators), (
                sender.hex(),
                ahead,
                self.schedule,
            )

    def _check_evidence(self, evidence: Equivocation) -> None:
        first = evidence.first
        # The node stores evidence under this key: it must take any round a message can carry.
        evidence_key(first.height, first.round, first.kind, first.sender)
        culprit = evidence.first.sender
        assert evidence.second.sender == culprit
        assert evidence.first.signed_part() != evidence.second.signed_part()
        assert self.validators[self.index_of[culprit]].behaviour != Behaviour.HONEST, (
            f"an honest validator was accused of equivocation; {self.schedule}"
        )
        self.evidence.append(evidence)

    # ------------------------------------------------------------ network

    def _link_up(self, a: int, b: int) -> bool:
        return not any(
            p.start <= self.now < p.end and ((a in p.side) != (b in p.side))
            for p in self.schedule.partitions
        )

    def _send(self, sender: int, to: int, kind: str, payload: object) -> None:
        before_gst = self.now < self.schedule.gst
        if before_gst and (
            not self._link_up(sender, to) or self.rng.random() < self.schedule.drop_rate
        ):
            return
        copies = 2 if before_gst and self.rng.random() < self.schedule.duplicate_rate else 1
        max_delay = self.schedule.max_delay if before_gst else min(self.schedule.max_delay, 0.3)
        for _ in range(copies):
            self._push(self.now + self.rng.uniform(0.001, max_delay), kind, to, payload)

    def _broadcast(self, v: _Validator, message: SignedMessage) -> None:
        for peer in range(len(self.validators)):
            if peer == v.index:
                continue
            if v.behaviour == Behaviour.EXTREME:
                for raw in self._extremes(v, message):
                    self._send(v.index, peer, "deliver_bytes", raw)
            sent = self._corrupt(v, message, peer)
            self._send(v.index, peer, "deliver", sent)
            if sent is not message and v.behaviour == Behaviour.EQUIVOCATING:
                self._send(v.index, peer, "deliver", message)  # the peer holds both: evidence

    def _corrupt(self, v: _Validator, message: SignedMessage, peer: int) -> SignedMessage:
        """What a Byzantine validator sends instead of its honest message: an equivocator shows
        odd-numbered peers a conflicting version (a split view) as well as the real one."""
        if (
            v.behaviour == Behaviour.EQUIVOCATING
            and peer % 2 == 1
            and message.kind != MessageKind.ROUND_CHANGE
        ):
            block = _make_block(message.height, message.round, v.index, self.rng.randrange(1 << 30))
            return sign_message(
                v.signer,
                CHAIN_ID,
                message.kind,
                message.height,
                message.round,
                block.hash,
                commit_seal=v.signer.sign(block.hash)
                if message.kind == MessageKind.COMMIT
                else b"",
                block=block if message.kind == MessageKind.PROPOSAL else None,
                justification=message.justification,
            )
        if v.behaviour == Behaviour.FORBIDDEN and message.kind == MessageKind.PROPOSAL:
            payload = b"forbidden:%d:%d" % (message.height, message.round)
            block = CandidateBlock(keccak(payload), payload)
            return sign_message(
                v.signer,
                CHAIN_ID,
                MessageKind.PROPOSAL,
                message.height,
                message.round,
                block.hash,
                block=block,
                justification=message.justification,
            )
        if v.behaviour == Behaviour.GARBAGE:
            choice = self.rng.randrange(4)
            if choice == 0:  # a bad signature
                return dataclasses.replace(message, signature=bytes(65))
            if choice == 1:  # a vote for an unknown block
                return sign_message(
                    v.signer,
                    CHAIN_ID,
                    MessageKind.COMMIT,
                    message.height,
                    message.round,
                    keccak(b"x"),
                    commit_seal=v.signer.sign(keccak(b"x")),
                )
            if choice == 2:  # a round change claiming a prepared block it cannot prove
                block = _make_block(message.height, 0, v.index, 1)
                return sign_message(
                    v.signer,
                    CHAIN_ID,
                    MessageKind.ROUND_CHANGE,
                    message.height,
                    message.round + 1,
                    block.hash,
                    prepared_round=0,
                    block=block,
                )
        return message

    def _extremes(self, v: _Validator, message: SignedMessage) -> list[bytes]:
        """Bytes an extreme validator sends besides its honest message."""
        height, round_ = message.height, message.round
        choice = self.rng.randrange(5)
        if choice == 0:  # two conflicting prepares at the largest round there is
            return [
                sign_message(
                    v.signer, CHAIN_ID, MessageKind.PREPARE, height, MAX_ROUND, keccak(bytes([i]))
                ).encode()
                for i in range(2)
            ]
        if choice == 1:  # rounds beyond it, validly signed: refused when decoded
            return [
                sign_message(
                    v.signer, CHAIN_ID, MessageKind.PREPARE, height, MAX_ROUND + r, keccak(b"r")
                ).encode()
                for r in (1, 2**32 - MAX_ROUND, 10**30)
            ]
        if choice == 2:  # a flood for later heights
            return [
                sign_message(
                    v.signer, CHAIN_ID, MessageKind.PREPARE, height + 1 + i % 4, i, keccak(b"f")
                ).encode()
                for i in range(2 * FUTURE_MESSAGES_PER_SENDER)
            ]
        if choice == 3:  # a flood of round changes for later rounds
            return [
                sign_message(
                    v.signer, CHAIN_ID, MessageKind.ROUND_CHANGE, height, round_ + 2 + i, b""
                ).encode()
                for i in range(2 * AHEAD_MESSAGES_PER_SENDER)
            ]
        return [b"\xc0" * 40, bytes(65), message.encode()[:-7]]  # shapes that are not messages

    # ------------------------------------------------------------ sync

    def _request_sync(self, v: _Validator) -> None:
        if v.next_height > self.schedule.heights:
            return
        peer = self.rng.choice([p for p in range(len(self.validators)) if p != v.index])
        self._send(v.index, peer, "sync_request", (v.index, v.next_height))

    def _answer_sync(self, v: _Validator, request: tuple[int, int]) -> None:
        requester, height = request
        if height in v.chain:
            self._send(v.index, requester, "sync_response", v.chain[height])

    def _adopt(self, v: _Validator, response: tuple[CandidateBlock, FinalityCertificate]) -> None:
        block, certificate = response
        if certificate.height != v.next_height or certificate.block_hash != block.hash:
            return
        if not valid_block(certificate.height, block):
            return
        try:
            certificate.verify(self.addresses)
        except InvalidCertificate:
            return
        self._record_decision(v, block, certificate)
