"""The py-evm chain of a cityledger network: Cancun rules, no proof of work, zero base fee."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import eth.vm.base
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    BlockPersistResult,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.chains.base import MiningChain
from eth.consensus.applier import ConsensusApplier
from eth.consensus.noproof import NoProofConsensus
from eth.db.trie import BlockRootData, TrieRootAndData
from eth.typing import AccountState as GenesisState
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.headers import create_cancun_header_from_parent
from eth.vm.forks.cancun.state import (
    CancunState,
    CancunTransactionExecutor,
    get_total_blob_gas,
)
from eth_typing import Address
from eth_utils import ValidationError, get_extended_debug_logger

from cityledger.node.execution.code_analysis import SharedAnalysisCodeStream
from cityledger.node.execution.ordered_trie import ordered_trie_root_and_nodes
from cityledger.node.storage.leveldb import BlockStage, LevelDB


def _zero_base_fee_header(parent_header: BlockHeaderAPI | None, **params: Any) -> BlockHeaderAPI:
    # Like Besu's zeroBaseFee: EIP-1559 would raise the fee by 1 wei after any busy block, and
    # a permissioned chain charges nothing. The gas limit stays what genesis set.
    params.pop("base_fee_per_gas", None)
    if parent_header is not None:
        params.setdefault("gas_limit", parent_header.gas_limit)
    header: BlockHeaderAPI = create_cancun_header_from_parent(parent_header, **params)
    return header.copy(base_fee_per_gas=0)


class CityComputation(CancunComputation):
    def __init__(
        self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
    ) -> None:
        super().__init__(state, message, transaction_context)
        self.code = SharedAnalysisCodeStream(message.code)


class CityTransactionExecutor(CancunTransactionExecutor):
    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        state = cast(CityState, self.vm_state)
        state.finalizing = True
        try:
            return super().finalize_computation(transaction, computation)
        finally:
            state.finalizing = False


class CityState(CancunState):
    computation_class = CityComputation
    transaction_executor_class = CityTransactionExecutor
    # py-evm's `logger` property looked the logger up again on every use: several per call.
    logger = get_extended_debug_logger("eth.vm.state.CityState")
    finalizing = False  # set by CityTransactionExecutor while it finalizes a transaction

    def delta_balance(self, address: Address, delta: int) -> None:
        zero_fee = delta == 0 and self.finalizing and address == self.coinbase
        if zero_fee and not self.account_exists(address):
            # Fees are zero here. Paying one to a coinbase that does not exist would create
            # it empty, and EIP-161 deletes it again in this same finalization (py-evm
            # touches the coinbase after every transaction): skipping both changes no state,
            # and spares creating and wiping an account per call.
            return
        super().delta_balance(address, delta)


class CityVM(CancunVM):
    """Cancun (the contracts' evmVersion) with the base fee pinned at zero."""

    create_header_from_parent = staticmethod(_zero_base_fee_header)
    _state_class = CityState

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(
                f"block gas limit {header.gas_limit} differs from the parent's "
                f"{parent_header.gas_limit}"
            )
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0, not {header.base_fee_per_gas}")

    def apply_all_transactions(
        self, transactions: Sequence[SignedTransactionAPI], base_header: BlockHeaderAPI
    ) -> tuple[BlockHeaderAPI, tuple[ReceiptAPI, ...], tuple[ComputationAPI, ...]]:
        # py-evm's rules, one header copy per block: py-evm copies the whole header after every
        # transaction to carry the running gas used and bloom, and checks every receipt it has
        # just built against that receipt's own bloom; together a tenth of executing a block.
        # Property-tested against py-evm's own loop (tests/node/test_block_application.py).
        if any(get_total_blob_gas(tx) for tx in transactions):
            return super().apply_all_transactions(transactions, base_header)
        if base_header.block_number != self.get_header().block_number:
            raise ValidationError(
                f"this VM executes block {self.get_header().block_number}, "
                f"not {base_header.block_number}"
            )
        gas_used, bloom = base_header.gas_used, base_header.bloom
        receipts: list[ReceiptAPI] = []
        computations: list[ComputationAPI] = []
        for transaction in transactions:
            if gas_used + transaction.gas > base_header.gas_limit:
                raise ValidationError(
                    f"Transaction exceeds gas limit: using {transaction.gas}, bringing total "
                    f"to {gas_used + transaction.gas}, but limit is {base_header.gas_limit}"
                )
            self.state.lock_changes()
            computation = self.state.apply_transaction(transaction)
            gas_used += self.finalize_gas_used(transaction, computation)
            receipt = transaction.make_receipt(
                EIP658_TRANSACTION_STATUS_CODE_FAILURE
                if computation.is_error
                else EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
                gas_used,
                computation.get_log_entries(),
            )
            bloom |= receipt.bloom
            receipts.append(receipt)
            computations.append(computation)
        header = base_header.copy(gas_used=gas_used, bloom=bloom)
        return header, tuple(receipts), tuple(computations)

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        # A block may share its parent's second. Timestamps are whole seconds; with py-evm's
        # "strictly later" a chain finalizing several blocks a second must either wait for the
        # next second or stamp blocks ahead of the clock. Every other rule stands.
        if header.timestamp < parent_header.timestamp:
            raise ValidationError(
                f"timestamp {header.timestamp} is before its parent's {parent_header.timestamp}"
            )
        if header.timestamp == parent_header.timestamp:
            parent_header = parent_header.copy(timestamp=parent_header.timestamp - 1)
        super().validate_header(header, parent_header)


def _trie_root_and_nodes(items: BlockRootData) -> TrieRootAndData:
    return ordered_trie_root_and_nodes([item.encode() for item in items])


# py-evm derives a block's transaction and receipt tries by inserting items one at a time, and
# derives the transaction trie again to check the block it just built: together a fifth of a
# block's execution. `ordered_trie` builds the same tries in one pass (property-tested against
# py-evm's); the VM looks the function up in its module on every block.
eth.vm.base.make_trie_root_and_nodes = _trie_root_and_nodes  # type: ignore[attr-defined]

VM_CONFIGURATION = ConsensusApplier(NoProofConsensus).amend_vm_configuration(((0, CityVM),))


class CityChain(MiningChain):
    vm_configuration = VM_CONFIGURATION

    def persist_block(self, block: BlockAPI, perform_validation: bool = True) -> BlockPersistResult:
        # py-evm reads every newly canonical block back from the database, decoding its
        # transactions from their trie, only to return it. Without forks that is just `block`.
        if perform_validation:
            self.validate_block(block)
        new_hashes, old_hashes = self.chaindb.persist_block(block)
        return BlockPersistResult(
            imported_block=block,
            new_canonical_blocks=tuple(
                block if h == block.hash else self.get_block_by_hash(h) for h in new_hashes
            ),
            old_canonical_blocks=tuple(self.get_block_by_hash(h) for h in old_hashes),
        )


def chain_class(chain_id: int) -> type[CityChain]:
    configured: type[CityChain] = CityChain.configure(__name__="CityChain", chain_id=chain_id)
    return configured


def write_genesis(
    committed: LevelDB, chain_id: int, genesis_params: dict[str, Any], genesis_state: GenesisState
) -> BlockHeaderAPI:
    """Writes block 0 and its state to an empty database, as one batch."""
    stage = BlockStage(committed)
    chain = chain_class(chain_id).from_genesis(stage, genesis_params, genesis_state)
    stage.flush()
    header: BlockHeaderAPI = chain.get_canonical_head()
    return header
