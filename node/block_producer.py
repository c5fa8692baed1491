"""Block production: propose -> execute -> finalize -> commit.

The finality step is pluggable. In dev mode the single validator's own signature finalizes a
block at once (`ImmediateFinality`); BFT consensus replaces only that step, receiving the
executed block and answering with a certificate (or nothing, if the block was not finalized).
The finality step sees blocks, not sockets or disks: what it needs from the outside world
(messages to peers, persistence of votes) is its own implementation's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from eth.abc import BlockAPI, SignedTransactionAPI
from eth_keys.datatypes import PrivateKey

from cityledger.node.chain import BlockExecutor, ExecutedBlock
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus_chain import certificate_key
from cityledger.node.logindex import index_block
from cityledger.node.txpool import TxPool

log = logging.getLogger("cityledger.node.producer")


class FinalityStep(Protocol):
    async def finalize(self, block: BlockAPI) -> FinalityCertificate | None:
        """A certificate once `block` is final, or None if it will not be (propose again)."""
        ...


class ImmediateFinality:
    """Dev mode: one validator, whose seal alone makes a block final."""

    def __init__(self, validator_key: PrivateKey) -> None:
        self._key = validator_key

    async def finalize(self, block: BlockAPI) -> FinalityCertificate | None:
        seal: bytes = self._key.sign_msg_hash(block.hash).to_bytes()
        signer = self._key.public_key.to_canonical_address()
        return FinalityCertificate(block.number, block.hash, 0, ((signer, seal),))


@dataclass(frozen=True)
class ProducerSettings:
    heartbeat_seconds: float | None = None  # an empty block after this long idle; None: never
    # At most this often (seconds between block starts), so that a busy node fills its blocks.
    min_block_interval: float = 0.05


class BlockProducer:
    def __init__(
        self,
        executor: BlockExecutor,
        pool: TxPool,
        finality: FinalityStep,
        coinbase: bytes,
        settings: ProducerSettings,
    ) -> None:
        self._executor = executor
        self._pool = pool
        self._finality = finality
        self._coinbase = coinbase
        self._settings = settings
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    def notify(self) -> None:
        """Transactions arrived."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        last_block = time.monotonic()
        while not self._stop.is_set():
            if not self._pool.has_ready:
                self._wake.clear()
                timeout = None
                if self._settings.heartbeat_seconds is not None:
                    timeout = max(
                        0.0, last_block + self._settings.heartbeat_seconds - time.monotonic()
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                if self._stop.is_set():
                    break
                heartbeat_due = self._settings.heartbeat_seconds is not None and (
                    time.monotonic() - last_block >= self._settings.heartbeat_seconds
                )
                if not self._pool.has_ready and not heartbeat_due:
                    continue
            started = time.monotonic()
            await self.produce_one()
            last_block = time.monotonic()
            # Let a batch gather: per-block costs (tries, the synced write) dominate small blocks.
            pause = started + self._settings.min_block_interval - last_block
            if pause > 0 and not self._stop.is_set():
                await asyncio.sleep(pause)

    async def produce_one(self) -> BlockAPI | None:
        batch = self._pool.take_batch(self._executor.chain.header.gas_limit)
        try:
            executed = await asyncio.to_thread(self._execute, batch)
        except Exception:
            # Not a transaction the state refuses (those are dropped inside `execute`) but a
            # failure of the executor itself. Retrying the same batch would fail forever and
            # stall the chain, so its transactions and their senders' later ones are dropped.
            log.exception("block execution failed; dropping %d transactions", len(batch))
            self._executor.abandon()
            self._pool.settle([], batch)
            return None
        certificate = await self._finality.finalize(executed.block)
        if certificate is None:
            self._executor.abandon()
            self._pool.return_batch(batch)
            return None
        await asyncio.to_thread(self._commit, executed, certificate)
        self._pool.settle(list(executed.block.transactions), list(executed.dropped))
        block = executed.block
        log.info(
            "block committed",
            extra={
                "block": block.number,
                "hash": "0x" + block.hash.hex(),
                "txs": len(block.transactions),
                "dropped": len(executed.dropped),
                "gas_used": block.header.gas_used,
            },
        )
        return block

    def _execute(self, batch: list[SignedTransactionAPI]) -> ExecutedBlock:
        return self._executor.execute(batch, self._coinbase, int(time.time()))

    def _commit(self, executed: ExecutedBlock, certificate: FinalityCertificate) -> None:
        stage = self._executor.stage
        block = executed.block
        index_block(stage, block.number, block.transactions, executed.receipts)
        stage[certificate_key(block.hash)] = certificate.encode()
        self._executor.commit()
