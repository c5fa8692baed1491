"""The py-evm chain of a cityledger network: Cancun rules, no proof of work, zero base fee."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import coincurve
import eth.vm.base
import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    BlockImportResult,
    BlockPersistResult,
    ComputationAPI,
    MessageAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionContextAPI,
    UnsignedTransactionAPI,
)
from eth.chains.base import MiningChain
from eth.consensus.applier import ConsensusApplier
from eth.consensus.noproof import NoProofConsensus
from eth.constants import ZERO_HASH32
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
from eth.vm.forks.cancun.transactions import (
    CancunLegacyTransaction,
    CancunTransactionBuilder,
    CancunTypedTransaction,
)
from eth.vm.forks.london.constants import DYNAMIC_FEE_TRANSACTION_TYPE
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address, Hash32
from eth_utils import ValidationError, get_extended_debug_logger, int_to_big_endian, keccak

from cityledger.node.code_analysis import SharedAnalysisCodeStream
from cityledger.node.consensus.signing import SECP256K1_N, address_of
from cityledger.node.ordered_trie import ordered_trie_root_and_nodes
from cityledger.node.raw_rlp import decode_items, encode_items
from cityledger.node.storage import BlockStage, LevelDB


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


class _VerifiedOnce(SignedTransactionAPI):
    """Checks the signature and recovers the signer once per decoded transaction: py-evm asks
    again while admitting, building and re-executing it, and each answer costs elliptic-curve
    work. A node keeps the objects its pool decoded, so a validator checks a transaction once."""

    @cached_property
    def _sender(self) -> Address:
        # py-evm's rules (y parity 0 or 1, r and s below the curve order) and its recovery over
        # the signing message, straight through coincurve: eth-keys' signature and key objects
        # and its backend lookup cost more than the curve arithmetic. Property-tested against
        # py-evm's own path (tests/node/test_transaction_sender.py).
        y_parity, r, s = self.y_parity, self.r, self.s
        if y_parity not in (0, 1) or not (0 <= r < SECP256K1_N and 0 <= s < SECP256K1_N):
            raise ValidationError(f"signature values out of range (y parity {y_parity})")
        public_key = coincurve.PublicKey.from_signature_and_message(
            r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity]),
            keccak(self.get_message_for_signing()),
            hasher=None,
        )
        return Address(address_of(public_key))

    @cached_property
    def _signature_valid(self) -> bool:
        # Recovering the signer is the check: py-evm's recovers and then verifies against the
        # key it recovered, which cannot fail, at twice the cost. Raises (and is asked again).
        try:
            self._sender  # noqa: B018
        except Exception as exc:  # eth-keys raises several kinds for malformed signatures
            raise ValidationError(f"invalid signature: {exc}") from None
        return True

    # The bytes this transaction was decoded from, if it was: RLP decoding is strict, so they
    # are its canonical encoding. Its hash, its signing message and its leaf in a block's
    # transaction trie derive from them instead of re-encoding the fields each time.
    _encoding: bytes | None = None

    def encode(self) -> bytes:
        if self._encoding is None:
            self._encoding = super().encode()  # type: ignore[safe-super]
        return self._encoding

    @cached_property
    def _hash(self) -> Hash32:
        return Hash32(keccak(self.encode()))

    @property
    def hash(self) -> Hash32:
        return self._hash

    def get_sender(self) -> Address:
        return self._sender

    def check_signature_validity(self) -> None:
        self._signature_valid  # noqa: B018

    def __deepcopy__(self, memo: dict[int, object]) -> _VerifiedOnce:
        # Transactions are immutable; py-evm's block.copy(...) deep-copies every one of them
        # twice per block it builds, and a copy would also lose the checked signature.
        return self


class _VerifiedOnceTypedTransaction(_VerifiedOnce, CancunTypedTransaction):
    def get_message_for_signing(self) -> bytes:
        # Every typed payload ends with y parity, r and s; the signed message is the type byte
        # and the payload without them (EIP-2718 and each type's EIP).
        encoding = self.encode()
        return encoding[:1] + encode_items(decode_items(encoding[1:])[:-3])


class _VerifiedOnceLegacyTransaction(_VerifiedOnce, CancunLegacyTransaction):
    def get_message_for_signing(self) -> bytes:
        # py-evm's own rule (EIP-155: chain id, 0, 0 in place of v, r, s), from the cached
        # encoding rather than a fresh one.
        parts: list[bytes] = decode_items(self.encode())[:-3]
        if self.chain_id is not None:
            parts += [int_to_big_endian(self.chain_id), b"", b""]
        return encode_items(parts)


class CityTransactionBuilder(CancunTransactionBuilder):
    """Decodes submitted transactions (blocks read back from disk use py-evm's own classes)."""

    legacy_signed = _VerifiedOnceLegacyTransaction
    typed_transaction = _VerifiedOnceTypedTransaction

    @classmethod
    def decode(cls, encoded: bytes) -> SignedTransactionAPI:
        encoded = bytes(encoded)
        inner = _plain_dynamic_fee_payload(encoded)
        transaction = (
            super().decode(encoded)
            if inner is None
            else cls.typed_transaction(DYNAMIC_FEE_TRANSACTION_TYPE, inner)
        )
        if isinstance(transaction, _VerifiedOnce):
            transaction._encoding = encoded
        return transaction


_DYNAMIC_FEE_FIELDS = 12
_ACCESS_LIST, _TO = 8, 5
_INTEGER_FIELDS = (0, 1, 2, 3, 4, 6, 9, 10, 11)


def _plain_dynamic_fee_payload(encoded: bytes) -> DynamicFeeTransaction | None:
    """The common transaction (EIP-1559, no access list) decoded without py-evm's sedes, which
    cost about 45 us of the 140 us a node spends admitting one; None for anything else, which
    py-evm then decodes, or refuses with its own message. Only a canonical encoding with the
    fields py-evm's sedes accept passes (tests/node/test_transaction_sender.py compares both
    decoders on valid and mangled bytes; rusty-rlp's strict mode refuses non-canonical RLP)."""
    if encoded[:1] != bytes([DYNAMIC_FEE_TRANSACTION_TYPE]):
        return None
    payload = encoded[1:]
    try:
        items = decode_items(payload)
    except rlp.DecodingError:
        return None
    if not isinstance(items, list) or len(items) != _DYNAMIC_FEE_FIELDS:
        return None
    if items[_ACCESS_LIST] != []:
        return None
    fields: list[Any] = []
    for index, item in enumerate(items):
        if index == _ACCESS_LIST:
            fields.append(())
            continue
        if not isinstance(item, bytes):
            return None
        if index in _INTEGER_FIELDS:
            if item[:1] == b"\x00":
                return None  # not the minimal big-endian form pyrlp requires
            fields.append(int.from_bytes(item, "big"))
        elif index == _TO and len(item) not in (0, 20):
            return None
        else:
            fields.append(item)
    return DynamicFeeTransaction(*fields)


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


def write_genesis(
    committed: LevelDB, chain_id: int, genesis_params: dict[str, Any], genesis_state: GenesisState
) -> BlockHeaderAPI:
    """Writes block 0 and its state to an empty database, as one batch."""
    stage = BlockStage(committed)
    chain = chain_class(chain_id).from_genesis(stage, genesis_params, genesis_state)
    stage.flush()
    header: BlockHeaderAPI = chain.get_canonical_head()
    return header


CALL_SENDER = Address(b"\0" * 20)


def run_call(
    state: StateAPI,
    *,
    to: bytes,
    data: bytes,
    gas: int,
    sender: Address = CALL_SENDER,
    value: int = 0,
) -> ComputationAPI:
    """Executes a message against `state` and rolls every change back (eth_call semantics).

    `to` empty means contract creation. The sender needs no key and no funds (gas price 0).
    """
    unsigned = CityVM.create_unsigned_transaction(
        nonce=state.get_nonce(sender),
        gas_price=0,
        gas=gas,
        to=Address(to),
        value=value,
        data=data,
    )
    snapshot = state.snapshot()
    try:
        if state.get_balance(sender) < value:
            state.set_balance(sender, value)
        computation: ComputationAPI = state.apply_transaction(spoofed(unsigned, sender))
    finally:
        state.revert(snapshot)
    return computation


def spoofed(unsigned: UnsignedTransactionAPI, sender: Address) -> SignedTransactionAPI:
    """An unsigned transaction that py-evm executes as if `sender` had signed it."""
    return cast(SignedTransactionAPI, SpoofTransaction(unsigned, from_=sender))
