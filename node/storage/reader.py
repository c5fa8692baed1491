"""Read access to the committed chain: blocks, transactions, receipts, state, calls, logs.

It reads LevelDB directly, never the block stage, so callers only ever see final blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.exceptions import BlockNotFound, HeaderNotFound, TransactionNotFound
from eth.rlp.accounts import Account
from eth.vm.chain_context import ChainContext
from eth_typing import ABI, Address, BlockNumber, Hash32
from eth_utils import keccak
from trie.hexary import HexaryTrie

from cityledger.node.config import CacheLimits
from cityledger.node.execution.calls import (
    CALL_SENDER,
    CallVM,
    ViewCallError,
    call_view,
    estimate_gas,
    run_call,
)
from cityledger.node.execution.vm import CityChain, CityVM, chain_class
from cityledger.node.storage.cache import LruCache
from cityledger.node.storage.leveldb import LevelDB
from cityledger.node.storage.log_index import IndexedLog, LogFilter, LogIndex


@dataclass(frozen=True)
class TxLocation:
    block: BlockAPI
    index: int

    @property
    def transaction(self) -> SignedTransactionAPI:
        return self.block.transactions[self.index]


def block_weight(block: BlockAPI) -> int:
    """Roughly the memory a decoded block holds: py-evm's objects take a few times their
    encoding (measured: about 2 KB for a transaction of 200 bytes)."""
    return 2_000 + sum(2_000 + 2 * len(tx.encode()) for tx in block.transactions)


def receipts_weight(receipts: tuple[ReceiptAPI, ...]) -> int:
    """Measured with tracemalloc: about 2.6 KB for a receipt of two logs of four topics."""
    return sum(
        900 + sum(700 + len(log.data) + 48 * len(log.topics) for log in receipt.logs)
        for receipt in receipts
    )


class ChainReader:
    def __init__(
        self,
        db: LevelDB,
        chain_id: int,
        consortium: bytes,
        consortium_abi: ABI,
        caches: CacheLimits | None = None,
    ) -> None:
        caches = caches or CacheLimits()
        self.chain_id = chain_id
        self._chain: CityChain = chain_class(chain_id)(db)
        self.logs = LogIndex(db)
        self._consortium = consortium
        self._consortium_abi = consortium_abi
        self._blocks: LruCache[bytes, BlockAPI] = LruCache(caches.block_bytes, block_weight)
        self._receipts: LruCache[bytes, tuple[ReceiptAPI, ...]] = LruCache(
            caches.receipt_bytes, receipts_weight
        )
        self._head_state: HeadStateView | None = None
        # Views answer with addresses and small lists: a few hundred bytes each.
        self._consortium_views: LruCache[tuple[bytes, str, tuple[Any, ...]], Any] = LruCache(
            caches.view_bytes, lambda _: 512
        )

    def head(self) -> BlockHeaderAPI:
        header: BlockHeaderAPI = self._chain.chaindb.get_canonical_head()
        return header

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        try:
            header: BlockHeaderAPI = self._chain.get_canonical_block_header_by_number(
                BlockNumber(number)
            )
        except (HeaderNotFound, BlockNotFound):
            return None
        return header

    def block_by_hash(self, block_hash: bytes) -> BlockAPI | None:
        cached = self._blocks.get(block_hash)
        if cached is not None:
            return cached
        try:
            block: BlockAPI = self._chain.get_block_by_hash(Hash32(block_hash))
        except (HeaderNotFound, BlockNotFound):
            return None
        if self.header_by_number(block.number) != block.header:
            return None  # only canonical blocks exist for callers
        self._blocks.put(block_hash, block)
        return block

    def remember_final(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        """A block just committed, with its receipts, as its executor holds them: clients ask
        for the newest block and its receipts first, and reading them back from the database
        would decode every transaction again."""
        self._blocks.put(block.hash, block)
        self._receipts.put(block.hash, receipts)

    def block_by_number(self, number: int) -> BlockAPI | None:
        header = self.header_by_number(number)
        return None if header is None else self.block_by_hash(header.hash)

    def receipts(self, block: BlockAPI) -> tuple[ReceiptAPI, ...]:
        cached = self._receipts.get(block.hash)
        if cached is None:
            cached = tuple(
                self._chain.chaindb.get_receipts(block.header, CityVM.get_receipt_builder())
            )
            self._receipts.put(block.hash, cached)
        return cached

    def locate_transaction(self, tx_hash: bytes) -> TxLocation | None:
        try:
            number, index = self._chain.chaindb.get_transaction_index(Hash32(tx_hash))
        except TransactionNotFound:
            return None
        block = self.block_by_number(number)
        if block is None or index >= len(block.transactions):
            return None
        return TxLocation(block, index)

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        state: StateAPI = self._chain.get_vm(header).state
        return state

    def call_state(self, header: BlockHeaderAPI) -> StateAPI:
        """The state after `header`, for a client's call: it honours the thread's deadline
        (`cityledger.node.execution.calls.deadline`)."""
        chain = self._chain
        vm = CallVM(header, chain.chaindb, ChainContext(chain.chain_id), chain.consensus_context)
        state: StateAPI = vm.state
        return state

    def call(
        self,
        header: BlockHeaderAPI,
        *,
        sender: Address | None,
        to: bytes,
        data: bytes,
        gas: int,
        value: int,
    ) -> ComputationAPI:
        return run_call(
            self.call_state(header),
            sender=sender or CALL_SENDER,
            to=to,
            data=data,
            gas=gas,
            value=value,
        )

    def estimate_gas(
        self,
        header: BlockHeaderAPI,
        *,
        sender: Address | None,
        to: bytes,
        data: bytes,
        value: int,
        gas_cap: int,
    ) -> int:
        return estimate_gas(
            self.call_state(header),
            sender=sender or CALL_SENDER,
            to=to,
            data=data,
            value=value,
            gas_cap=gas_cap,
        )

    def account_proof(
        self, header: BlockHeaderAPI, address: bytes, slots: Sequence[int]
    ) -> AccountProof:
        """EIP-1186: the account at `address` and the `slots` of its storage, with the trie
        nodes that prove them against `header`'s state root."""
        db = self._chain.chaindb.db
        key = keccak(address)
        state_trie = HexaryTrie(db, header.state_root)
        encoded = state_trie[key]
        account = rlp.decode(encoded, sedes=Account) if encoded else Account()
        storage_trie = HexaryTrie(db, account.storage_root)
        storage = []
        for slot in slots:
            slot_key = keccak(slot.to_bytes(32, "big"))
            value = storage_trie[slot_key]
            storage.append(
                StorageProof(
                    slot,
                    rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0,
                    _proof_nodes(storage_trie, slot_key),
                )
            )
        return AccountProof(
            address=address,
            nonce=account.nonce,
            balance=account.balance,
            storage_root=account.storage_root,
            code_hash=account.code_hash,
            nodes=_proof_nodes(state_trie, key),
            storage=tuple(storage),
        )

    def query_logs(self, log_filter: LogFilter, limit: int) -> list[IndexedLog]:
        return self.logs.query(log_filter, limit)

    def head_state(self) -> HeadStateView:
        """The admission view of the current head, reused until the head moves."""
        head = self.head()
        view = self._head_state
        if view is None or view.header != head:
            view = HeadStateView(self, head)
            self._head_state = view
        return view

    def consortium_view(self, header: BlockHeaderAPI, name: str, args: Sequence[Any]) -> Any:
        """Consortium's view `name(args)` on the state after `header`.

        Only for views that read nothing but Consortium's own storage (not the block's time or
        number, not another contract), as `isPermittedSender` and `getValidators` do: an answer
        is kept for as long as that storage root is unchanged, so asking at a new head costs a
        trie lookup rather than an EVM call unless governance changed something. Raises
        `ViewCallError`.
        """
        key = (self._consortium_storage_root(header), name, tuple(args))
        cached = self._consortium_views.get(key)
        if cached is None:
            cached = call_view(
                self.state_at(header), self._consortium, self._consortium_abi, name, args
            )
            self._consortium_views.put(key, cached)
        return cached

    def _consortium_storage_root(self, header: BlockHeaderAPI) -> bytes:
        state_trie = HexaryTrie(self._chain.chaindb.db, header.state_root)
        account = rlp.decode(state_trie[keccak(self._consortium)], sedes=Account)
        root: bytes = account.storage_root
        return root

    def is_permitted_sender(self, header: BlockHeaderAPI, address: bytes) -> bool:
        try:
            permitted = self.consortium_view(header, "isPermittedSender", [address])
        except ViewCallError:
            return False
        return bool(permitted)

    def sender_city(self, header: BlockHeaderAPI, address: bytes) -> bytes | None:
        """The city `address` sends transactions for, b"" if it may send but belongs to no
        city (the genesis bootstrapper), None if it may not send (see admission.HeadState)."""
        if not self.is_permitted_sender(header, address):
            return None
        for view in ("cityOfAgency", "adminCity"):
            try:
                city = bytes(self.consortium_view(header, view, [address]))
            except ViewCallError:
                continue
            if any(city):
                return city
        return b""


@dataclass(frozen=True)
class StorageProof:
    slot: int
    value: int
    nodes: tuple[bytes, ...]


@dataclass(frozen=True)
class AccountProof:
    address: bytes
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes
    nodes: tuple[bytes, ...]
    storage: tuple[StorageProof, ...]


def _proof_nodes(trie: HexaryTrie, key: bytes) -> tuple[bytes, ...]:
    """The RLP-encoded nodes from the root towards `key`, as EIP-1186 lists them: a node short
    enough to sit inline in its parent is part of the parent's encoding, not a node of its own."""
    nodes = [rlp.encode(node) for node in trie.get_proof(key)]  # type: ignore[no-untyped-call]
    return tuple(n for i, n in enumerate(nodes) if i == 0 or len(n) >= 32)


class HeadStateView:
    """`cityledger.node.admission.HeadState` at one header, with per-head caches."""

    def __init__(self, reader: ChainReader, header: BlockHeaderAPI) -> None:
        self._reader = reader
        self.header = header
        self._cities: dict[Address, bytes | None] = {}

    @cached_property
    def _state(self) -> StateAPI:
        return self._reader.state_at(self.header)

    @property
    def chain_id(self) -> int:
        return self._reader.chain_id

    @property
    def gas_limit(self) -> int:
        limit: int = self.header.gas_limit
        return limit

    def nonce(self, address: Address) -> int:
        nonce: int = self._state.get_nonce(address)
        return nonce

    def balance(self, address: Address) -> int:
        balance: int = self._state.get_balance(address)
        return balance

    def sender_city(self, address: Address) -> bytes | None:
        if address not in self._cities:
            self._cities[address] = self._reader.sender_city(self.header, address)
        return self._cities[address]
