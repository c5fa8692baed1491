"""Applying whole blocks on a stage above the committed head: build, replay, commit, abandon."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    BlockImportResult,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
)
from eth.constants import ZERO_HASH32
from eth_utils import ValidationError

from cityledger.node.execution.vm import chain_class
from cityledger.node.storage.leveldb import BlockStage, LevelDB


@dataclass(frozen=True)
class ExecutedBlock:
    """A block applied on a stage: not yet final, not yet on disk."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    computations: tuple[ComputationAPI, ...]
    dropped: tuple[SignedTransactionAPI, ...]


class BlockExecutor:
    """Applies whole blocks on top of the committed head, on a `BlockStage`.

    `execute` leaves the block staged; `commit` writes it (and whatever the caller added to the
    stage) to disk in one batch; `abandon` forgets it. Only one block is staged at a time.
    """

    def __init__(self, committed: LevelDB, chain_id: int) -> None:
        self.stage = BlockStage(committed)
        self._chain_cls = chain_class(chain_id)
        self.chain = self._chain_cls(self.stage)
        self._staged = False

    def execute(
        self, transactions: list[SignedTransactionAPI], coinbase: bytes, timestamp: int
    ) -> ExecutedBlock:
        if self._staged:
            raise RuntimeError("a block is already staged; commit or abandon it first")
        timestamp = self.timestamp_for(timestamp)
        dropped: list[SignedTransactionAPI] = []
        try:
            result, receipts, computations = self._mine(transactions, coinbase, timestamp)
        except ValidationError:
            # Rare: the state no longer admits a transaction the pool accepted (its balance was
            # spent meanwhile). Find those by a trial run, then apply the rest.
            self.abandon()
            transactions, dropped = self._split_valid(transactions, coinbase, timestamp)
            result, receipts, computations = self._mine(transactions, coinbase, timestamp)
        self._staged = True
        return ExecutedBlock(result.imported_block, receipts, computations, tuple(dropped))

    def timestamp_for(self, clock_seconds: int) -> int:
        """The timestamp a block built now gets: never before the parent's, whose proposer's
        clock may have been a little ahead of ours."""
        return max(clock_seconds, int(self.chain.get_canonical_head().timestamp))

    def replay(
        self, block: BlockAPI, transactions: Sequence[SignedTransactionAPI]
    ) -> ExecutedBlock:
        """Re-executes a block another validator proposed and leaves it staged.

        `transactions` are the block's own, possibly as objects this node has already checked.
        The block is rebuilt from them with its coinbase and timestamp, exactly as its proposer
        must have built it; raises `ValidationError` unless the result is that very block
        (state root, receipts, gas used and every other header field).
        """
        header = block.header
        executed = self.execute_as_given(transactions, header.coinbase, header.timestamp)
        if executed.block.hash != header.hash:
            self.abandon()
            raise ValidationError(
                f"block does not execute to its header: {_diff(header, executed.block.header)}"
            )
        return executed

    def execute_as_given(
        self, transactions: Sequence[SignedTransactionAPI], coinbase: bytes, timestamp: int
    ) -> ExecutedBlock:
        """Applies exactly these transactions with this coinbase and timestamp, and leaves the
        block staged; raises (staging nothing) if any of them is not valid in its place."""
        if self._staged:
            raise RuntimeError("a block is already staged; commit or abandon it first")
        try:
            result, receipts, computations = self._mine(list(transactions), coinbase, timestamp)
        except Exception:
            self.abandon()
            raise
        self._staged = True
        return ExecutedBlock(result.imported_block, receipts, computations, ())

    def _mine(
        self, transactions: list[SignedTransactionAPI], coinbase: bytes, timestamp: int
    ) -> tuple[BlockImportResult, tuple[ReceiptAPI, ...], tuple[ComputationAPI, ...]]:
        # The header fields go on the pending header first: py-evm's mine_all would run the
        # transactions against the unmodified header and stamp the new fields on afterwards,
        # so `block.timestamp` seen by contracts would differ from the block's own, and every
        # other validator re-executing the block would compute another state root.
        self.chain.header = self.chain.header.copy(
            coinbase=coinbase, timestamp=timestamp, mix_hash=ZERO_HASH32
        )
        return self.chain.mine_all(transactions, blob_gas_used=0)

    def _split_valid(
        self, transactions: list[SignedTransactionAPI], coinbase: bytes, timestamp: int
    ) -> tuple[list[SignedTransactionAPI], list[SignedTransactionAPI]]:
        header = self.chain.header.copy(coinbase=coinbase, timestamp=timestamp)
        vm = self.chain.get_vm(header)
        valid: list[SignedTransactionAPI] = []
        dropped: list[SignedTransactionAPI] = []
        for tx in transactions:
            snapshot = vm.state.snapshot()
            try:
                vm.state.apply_transaction(tx)
            except ValidationError:
                vm.state.revert(snapshot)
                dropped.append(tx)
                continue
            vm.state.commit(snapshot)
            valid.append(tx)
        return valid, dropped

    def commit(self) -> None:
        self.stage.flush()
        self._staged = False

    def abandon(self) -> None:
        self.stage.discard()
        self._staged = False
        self.chain = self._chain_cls(self.stage)


def _diff(proposed: BlockHeaderAPI, executed: BlockHeaderAPI) -> str:
    ours = executed.as_dict()
    return ", ".join(
        f"{name} is {_show(value)}, executing gives {_show(ours[name])}"
        for name, value in proposed.as_dict().items()
        if ours[name] != value
    )


def _show(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
