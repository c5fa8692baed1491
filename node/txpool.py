"""The transaction pool: admission checks, nonce ordering, and batches for the block producer.

Every refusal is a `TxRejected` with a sentence an operator or integrator understands; the RPC
layer turns it into a JSON-RPC error. Transactions whose nonce follows the sender's last known
one are *ready* (kept in arrival order, which respects each sender's nonce order); those after
a gap wait in *future* until the gap is filled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from eth.abc import SignedTransactionAPI
from eth_typing import Address
from eth_utils import to_checksum_address

from cityledger.node.config import PoolLimits
from cityledger.node.consensus.signing import SECP256K1_N
from cityledger.node.execution.transactions import CityTransactionBuilder

# Blob transactions carry data the node has no use for and no sidecar handling.
_BLOB_TX_TYPE = 3


class TxRejected(Exception):
    """A transaction the pool will not accept; the message says why."""


class HeadState(Protocol):
    """What admission needs from the state at the current head."""

    @property
    def chain_id(self) -> int: ...

    @property
    def gas_limit(self) -> int: ...

    def nonce(self, address: Address) -> int: ...

    def balance(self, address: Address) -> int: ...

    def is_permitted_sender(self, address: Address) -> bool: ...


class _Checksummed:
    """An address shown in EIP-55 form, computed only if it is shown."""

    def __init__(self, address: bytes) -> None:
        self._address = address

    def __str__(self) -> str:
        return to_checksum_address(self._address)


@dataclass
class _Sender:
    next_nonce: int  # the nonce after the last ready or in-flight transaction
    future: dict[int, SignedTransactionAPI]
    count: int = 0  # ready + in flight + future


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[TxPool, P], R]) -> Callable[Concatenate[TxPool, P], R]:
    def wrapper(pool: TxPool, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with pool._lock:
            return method(pool, *args, **kwargs)

    wrapper.__doc__ = method.__doc__
    return wrapper


class TxPool:
    """Thread-safe: RPC and peers add on the event loop while blocks are built in a worker."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self._lock = threading.RLock()
        self._ready: dict[bytes, SignedTransactionAPI] = {}
        self._in_flight: dict[bytes, SignedTransactionAPI] = {}
        self._senders: dict[bytes, _Sender] = {}
        self._known: dict[bytes, SignedTransactionAPI] = {}

    @_locked
    def __len__(self) -> int:
        return len(self._known)

    @property
    def has_ready(self) -> bool:
        with self._lock:
            return bool(self._ready)

    @_locked
    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self._known.get(tx_hash)

    @_locked
    def pending_nonce(self, address: bytes, head_nonce: int) -> int:
        sender = self._senders.get(address)
        return head_nonce if sender is None else max(sender.next_nonce, head_nonce)

    def decode(self, raw: bytes) -> SignedTransactionAPI:
        if len(raw) > self.limits.max_tx_bytes:
            raise TxRejected(
                f"transaction is {len(raw)} bytes; the limit is {self.limits.max_tx_bytes}"
            )
        if raw[:1] == bytes([_BLOB_TX_TYPE]):
            raise TxRejected("blob transactions (type 3) are not accepted")
        try:
            tx: SignedTransactionAPI = CityTransactionBuilder.decode(raw)
            tx.validate()
            if tx.s > SECP256K1_N // 2:
                raise ValueError("signature s value is not in the lower half (EIP-2)")
            tx.sender  # noqa: B018 - recovers the signer; a bad signature fails here
        except Exception as exc:  # rlp, signature and field validation all raise differently
            raise TxRejected(
                f"transaction cannot be decoded or its signature is invalid: {exc}"
            ) from None
        return tx

    @_locked
    def add(self, tx: SignedTransactionAPI, head: HeadState) -> None:
        if tx.hash in self._known:
            raise TxRejected(f"transaction 0x{tx.hash.hex()} is already pending")
        sender_address = tx.sender
        # Only error messages name the sender, and a checksum costs a keccak.
        who = _Checksummed(sender_address)
        self._check_static(tx, head)
        if not head.is_permitted_sender(sender_address):
            raise TxRejected(
                f"sender {who} is not a registered agency or city admin of this consortium"
            )
        head_nonce = head.nonce(sender_address)
        sender = self._senders.get(sender_address) or _Sender(head_nonce, {})
        sender.next_nonce = max(sender.next_nonce, head_nonce)
        if tx.nonce < head_nonce:
            raise TxRejected(
                f"nonce {tx.nonce} of {who} was already used; the next nonce is "
                f"{self.pending_nonce(sender_address, head_nonce)}"
            )
        if tx.nonce < sender.next_nonce or tx.nonce in sender.future:
            raise TxRejected(
                f"a transaction from {who} with nonce {tx.nonce} is already pending "
                "(replacement is not supported: gas is free on this chain)"
            )
        if tx.nonce > sender.next_nonce + self.limits.max_nonce_gap:
            raise TxRejected(
                f"nonce {tx.nonce} of {who} is too far ahead: the next nonce is "
                f"{sender.next_nonce} and at most {self.limits.max_nonce_gap} may be queued"
            )
        if sender.count >= self.limits.max_per_sender:
            raise TxRejected(
                f"{who} already has {sender.count} pending transactions "
                f"(limit {self.limits.max_per_sender})"
            )
        if len(self._known) >= self.limits.max_pool_size:
            raise TxRejected("the transaction pool is full; retry shortly")
        cost = tx.value + tx.gas * tx.max_fee_per_gas
        if cost > head.balance(sender_address):
            raise TxRejected(
                f"{who} cannot pay {cost} wei (value plus maximum gas cost); "
                f"its balance is {head.balance(sender_address)}"
            )
        self._senders[sender_address] = sender
        self._known[tx.hash] = tx
        sender.count += 1
        sender.future[tx.nonce] = tx
        while sender.next_nonce in sender.future:
            promoted = sender.future.pop(sender.next_nonce)
            self._ready[promoted.hash] = promoted
            sender.next_nonce += 1

    def _check_static(self, tx: SignedTransactionAPI, head: HeadState) -> None:
        chain_id = tx.chain_id
        if chain_id is None:
            raise TxRejected(
                f"transaction is not replay-protected (no chain id); sign it with chainId "
                f"{head.chain_id}"
            )
        if chain_id != head.chain_id:
            raise TxRejected(
                f"transaction is for chain id {chain_id}; this chain's id is {head.chain_id}"
            )
        if tx.gas > head.gas_limit:
            raise TxRejected(
                f"transaction gas {tx.gas} exceeds the block gas limit {head.gas_limit}"
            )
        intrinsic = tx.intrinsic_gas
        if tx.gas < intrinsic:
            raise TxRejected(f"transaction gas {tx.gas} is below its intrinsic cost {intrinsic}")

    @_locked
    def take_batch(
        self, gas_limit: int, max_count: int | None = None
    ) -> list[SignedTransactionAPI]:
        """Ready transactions, oldest first, whose gas limits fit in one block; at most
        `max_count` of them if given."""
        batch: list[SignedTransactionAPI] = []
        gas = 0
        for tx in self._ready.values():
            if gas + tx.gas > gas_limit or len(batch) == max_count:
                break
            gas += tx.gas
            batch.append(tx)
        for tx in batch:
            del self._ready[tx.hash]
            self._in_flight[tx.hash] = tx
        return batch

    @_locked
    def settle(
        self,
        included: list[SignedTransactionAPI],
        dropped: list[SignedTransactionAPI],
    ) -> None:
        """After a block is final: forget what it included. A dropped transaction invalidates
        the sender's later ones, so those senders start over from the chain's nonce."""
        for tx in included:
            self._forget(tx)
        for sender_address in {tx.sender for tx in dropped}:
            for tx in [t for t in self._known.values() if t.sender == sender_address]:
                self._forget(tx)
            self._senders.pop(sender_address, None)

    @_locked
    def return_batch(self, batch: list[SignedTransactionAPI]) -> None:
        """A batch whose block was not finalized goes back to the front of the queue."""
        rest = self._ready
        self._ready = {tx.hash: tx for tx in batch if tx.hash in self._in_flight}
        self._ready.update(rest)
        for tx in batch:
            self._in_flight.pop(tx.hash, None)

    def _forget(self, tx: SignedTransactionAPI) -> None:
        if self._known.pop(tx.hash, None) is None:
            return
        self._ready.pop(tx.hash, None)
        self._in_flight.pop(tx.hash, None)
        sender = self._senders.get(tx.sender)
        if sender is None:
            return
        sender.future.pop(tx.nonce, None)
        sender.count -= 1
        if sender.count == 0:
            del self._senders[tx.sender]
