"""The chain as consensus sees it: build a block from the pool, validate a proposed block by
executing it, and commit a final block with its certificate — all on the node's block stage,
so nothing reaches disk before it is final, and a final block reaches disk in one batch."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import rlp
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth_utils import ValidationError, keccak

from cityledger.node.admission import TxRejected, check_block_transaction
from cityledger.node.consensus.finality_certificate import FinalityCertificate
from cityledger.node.consensus.messages import CandidateBlock
from cityledger.node.consensus.signing import Address
from cityledger.node.execution.executor import BlockExecutor, ExecutedBlock
from cityledger.node.execution.raw_rlp import decode_items, encode_items
from cityledger.node.execution.transactions import CityTransactionBuilder
from cityledger.node.execution.vm import CityVM
from cityledger.node.production.budget import BlockBudget
from cityledger.node.production.preview import BlockPreview
from cityledger.node.production.validator_set import validators_at
from cityledger.node.storage.log_index import index_block
from cityledger.node.storage.reader import ChainReader
from cityledger.node.storage.schema import certificate_key
from cityledger.node.txpool import TxPool

log = logging.getLogger("cityledger.node.production")

# A proposer's clock may run a little ahead of ours; further than this is refused.
MAX_FUTURE_SECONDS = 15
# [header, [transactions], [], []], a legacy transaction a list within: typed ones are opaque
# byte strings here, bounded again when they are decoded.
BLOCK_RLP_DEPTH = 3


def encode_block(block: BlockAPI) -> CandidateBlock:
    return CandidateBlock(block.hash, rlp.encode(block))


def decode_block(
    candidate: CandidateBlock, known: Callable[[bytes], SignedTransactionAPI | None]
) -> BlockAPI:
    """A proposed block, its transactions taken as the objects `known` has for their hashes
    (the pool's: their signatures are already checked) and decoded only where it has none."""
    items = decode_items(candidate.payload, max_depth=BLOCK_RLP_DEPTH)
    block_class = CityVM.get_block_class()
    if not isinstance(items, list) or len(items) != 4 or items[2] or items[3]:
        raise ValueError("a block is [header, transactions, [], []]: no uncles, no withdrawals")
    header_item, tx_items = items[0], items[1]
    transactions = []
    for item in tx_items:
        # A typed transaction is a byte string in the block's list, a legacy one a list.
        encoding = item if isinstance(item, bytes) else encode_items(item)
        pooled = known(keccak(encoding))
        transactions.append(
            pooled if pooled is not None else CityTransactionBuilder.decode(encoding)
        )
    header = CancunBlockHeader.deserialize(header_item)  # CityVM is Cancun
    block: BlockAPI = block_class(header, transactions=transactions, uncles=[], withdrawals=[])
    return block


class BlockProducer:
    """Implements `cityledger.node.consensus.engine.ConsensusApplication` over a block executor."""

    def __init__(
        self,
        executor: BlockExecutor,
        reader: ChainReader,
        pool: TxPool,
        coinbase: bytes,
        budget: BlockBudget,
        on_final: Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None] | None = None,
        on_preview: Callable[[BlockPreview], None] | None = None,
    ) -> None:
        self._executor = executor
        self._budget = budget
        self._on_final = on_final
        self._on_preview = on_preview
        # Consensus calls in one worker thread at a time; a speculation runs in another.
        self._lock = threading.RLock()
        # The hash of the block a preview executed to, staged in `_staged_block`.
        self._speculated: bytes | None = None
        self._reader = reader
        self._pool = pool
        self._coinbase = coinbase
        self._staged: CandidateBlock | None = None
        self._staged_block: ExecutedBlock | None = None
        self._taken: list[SignedTransactionAPI] = []
        self._validators: dict[int, tuple[Address, ...]] = {}

    def next_height(self) -> int:
        return int(self._reader.head().block_number) + 1

    def validators_at(self, height: int) -> tuple[Address, ...]:
        cached = self._validators.get(height)
        if cached is None:
            cached = validators_at(self._reader, height)
            self._validators = {height: cached}  # only the current height is asked repeatedly
        return cached

    def has_pending_work(self) -> bool:
        return self._pool.has_ready

    def build_block(self, height: int) -> CandidateBlock:
        with self._lock:
            return self._build_block(height)

    def _build_block(self, height: int) -> CandidateBlock:
        self._require_next(height)
        self._abandon_staged()
        # A lone validator decides as soon as it has built: nobody re-executes within its timer.
        alone = len(self.validators_at(height)) == 1
        self._taken = self._pool.take_batch(
            self._executor.chain.header.gas_limit,
            max_count=None if alone else self._budget.limit,
        )
        timestamp = self._executor.timestamp_for(int(time.time()))
        if self._on_preview is not None and not alone and self._taken:
            self._on_preview(
                BlockPreview(
                    height,
                    self._reader.head().hash,
                    self._coinbase,
                    timestamp,
                    tuple(tx.hash for tx in self._taken),
                )
            )
        started = time.monotonic()
        try:
            executed = self._executor.execute(self._taken, self._coinbase, timestamp)
        except Exception:
            self._abandon_staged()
            raise
        self._budget.observe(len(self._taken), time.monotonic() - started)
        if executed.dropped:
            # No longer valid on this state (for example a spent balance): never retried.
            self._pool.settle([], list(executed.dropped))
            dropped = {tx.hash for tx in executed.dropped}
            self._taken = [tx for tx in self._taken if tx.hash not in dropped]
        self._staged = encode_block(executed.block)
        self._staged_block = executed
        return self._staged

    def speculate(self, preview: BlockPreview) -> bool:
        """Executes the block a proposer announced it is building, and leaves it staged for
        `validate_block` to find: True if it did. Does nothing while another block is staged,
        or if this node lacks any of the transactions or has moved past the preview's parent."""
        with self._lock:
            if self._staged_block is not None or preview.height != self.next_height():
                return False
            if preview.parent_hash != self._reader.head().hash:
                return False
            transactions: list[SignedTransactionAPI] = []
            for tx_hash in preview.transactions:
                pooled = self._pool.get(tx_hash)
                if pooled is None:
                    return False
                transactions.append(pooled)
            if not transactions:
                return False
            started = time.monotonic()
            try:
                executed = self._executor.execute_as_given(
                    transactions, preview.coinbase, preview.timestamp
                )
            except ValidationError:
                return False  # the proposer will find that transaction invalid too
            self._budget.observe(len(transactions), time.monotonic() - started)
            self._staged_block = executed
            self._speculated = executed.block.hash
            return True

    def validate_block(self, height: int, candidate: CandidateBlock) -> bool:
        with self._lock:
            return self._validate_block(height, candidate)

    def _validate_block(self, height: int, candidate: CandidateBlock) -> bool:
        if self._staged is not None and self._staged.hash == candidate.hash:
            return True
        try:
            self._require_next(height)
            block = decode_block(candidate, self._pool.get)
            self._check_header(block, candidate, height)
            parent = self._reader.head_state()
            for tx in block.transactions:
                check_block_transaction(tx, parent, self._pool.limits)
            if self._speculated != block.hash:
                self._abandon_staged()
                started = time.monotonic()
                self._staged_block = self._executor.replay(block, block.transactions)
                self._budget.observe(len(block.transactions), time.monotonic() - started)
            # else: the preview's transactions, executed on this parent with this coinbase and
            # timestamp, gave this very header (state root, receipts and all).
            self._speculated = None
        except (rlp.RLPException, ValidationError, ValueError, LookupError, TxRejected) as exc:
            log.info("invalid block", extra={"block": height, "reason": str(exc)})
            self._abandon_staged()
            return False
        except Exception:
            # A block is another node's bytes: whatever breaks while checking it makes it
            # invalid, and must not stop consensus. Logged in full: it may be our bug.
            log.warning("invalid block (unexpected error)", extra={"block": height}, exc_info=True)
            self._abandon_staged()
            return False
        self._staged = candidate
        return True

    def commit_block(self, candidate: CandidateBlock, certificate: FinalityCertificate) -> None:
        with self._lock:
            self._commit_block(candidate, certificate)

    def _commit_block(self, candidate: CandidateBlock, certificate: FinalityCertificate) -> None:
        if not self._validate_block(certificate.height, candidate):
            raise ValueError(f"final block {certificate.height} does not execute on this chain")
        staged = self._staged_block
        if staged is None:
            raise RuntimeError("validate_block left no executed block staged")
        # The executed block holds the transaction objects this node checked, not fresh ones.
        block, receipts = staged.block, staged.receipts
        stage = self._executor.stage
        index_block(stage, block.number, block.transactions, receipts)
        stage[certificate_key(block.hash)] = certificate.encode()
        self._executor.commit()
        if self._on_final is not None:
            self._on_final(block, receipts)
        included = set(tx.hash for tx in block.transactions)
        self._pool.settle(list(block.transactions), [])
        self._pool.return_batch([tx for tx in self._taken if tx.hash not in included])
        self._taken = []
        self._staged = None
        self._staged_block = None
        self._validators = {}

    def certificate(self, block_hash: bytes) -> FinalityCertificate | None:
        try:
            return FinalityCertificate.decode(
                self._executor.stage.committed[certificate_key(block_hash)]
            )
        except KeyError:
            return None

    def _require_next(self, height: int) -> None:
        if height != self.next_height():
            raise ValueError(f"block {height} is not the next block ({self.next_height()})")

    def _check_header(self, block: BlockAPI, candidate: CandidateBlock, height: int) -> None:
        header = block.header
        parent = self._reader.head()
        if block.hash != candidate.hash:
            raise ValueError("block hash does not match the proposal")
        if header.block_number != height or header.parent_hash != parent.hash:
            raise ValueError("block does not extend the last final block")
        if not parent.timestamp <= header.timestamp <= time.time() + MAX_FUTURE_SECONDS:
            raise ValueError(f"block timestamp {header.timestamp} is out of range")

    def _abandon_staged(self) -> None:
        if self._staged is not None or self._staged_block is not None or self._taken:
            self._executor.abandon()
            self._pool.return_batch(self._taken)
        self._taken = []
        self._staged = None
        self._staged_block = None
        self._speculated = None
