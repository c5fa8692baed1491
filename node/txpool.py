"""The transaction pool: admission, nonce ordering, and a fair share of each block per city.

Admission applies `cityledger.node.admission`'s rules (the same ones that make a block valid)
plus the pool's own limits. Transactions whose nonce follows the sender's last known one are
*ready*; those after a gap wait in *future* until the gap is filled. Ready transactions queue
per city (the sender's city in Consortium), in arrival order, which respects each sender's
nonce order.

Gas is free, so block space is shared by rule rather than by price: each block, every city
with ready transactions earns an equal share of the block gas limit as credit, and cities are
served by credit, highest first, each up to its credit; space nobody's credit covers goes to
whoever has transactions left. Credit carries over while a city stays backlogged, so even a
transaction of the whole block's gas gets its turn within as many blocks as there are cities.
A city's agencies together hold at most `max_per_city` pending transactions: registering more
agencies buys no larger share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from eth.abc import SignedTransactionAPI

from cityledger.node.admission import (
    Checksummed,
    HeadState,
    TxRejected,
    check_against,
    decode_transaction,
)
from cityledger.node.config import PoolLimits


@dataclass
class _Sender:
    city: bytes
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

    def __init__(
        self,
        limits: PoolLimits,
        on_admitted: Callable[[SignedTransactionAPI], None] | None = None,
    ) -> None:
        self.limits = limits
        self._on_admitted = on_admitted
        self._lock = threading.RLock()
        self._ready: dict[bytes, dict[bytes, SignedTransactionAPI]] = {}  # city -> hash -> tx
        self._in_flight: dict[bytes, SignedTransactionAPI] = {}
        self._senders: dict[bytes, _Sender] = {}
        self._known: dict[bytes, SignedTransactionAPI] = {}
        self._per_city: dict[bytes, int] = {}  # pending transactions of each city's senders
        self._credit: dict[bytes, int] = {}  # gas each backlogged city may still claim

    @_locked
    def __len__(self) -> int:
        return len(self._known)

    @property
    def has_ready(self) -> bool:
        with self._lock:
            return any(self._ready.values())

    @_locked
    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self._known.get(tx_hash)

    @_locked
    def pending_nonce(self, address: bytes, head_nonce: int) -> int:
        sender = self._senders.get(address)
        return head_nonce if sender is None else max(sender.next_nonce, head_nonce)

    def decode(self, raw: bytes) -> SignedTransactionAPI:
        return decode_transaction(raw, self.limits)

    @_locked
    def add(self, tx: SignedTransactionAPI, head: HeadState) -> None:
        if tx.hash in self._known:
            raise TxRejected(f"transaction 0x{tx.hash.hex()} is already pending")
        city = check_against(tx, head)
        sender_address = tx.sender
        who = Checksummed(sender_address)
        head_nonce = head.nonce(sender_address)
        sender = self._senders.get(sender_address) or _Sender(city, head_nonce, {})
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
        if self._per_city.get(sender.city, 0) >= self.limits.max_per_city:
            raise TxRejected(
                f"the agencies of {who}'s city already have {self.limits.max_per_city} "
                "pending transactions; retry once some are final"
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
        self._per_city[sender.city] = self._per_city.get(sender.city, 0) + 1
        sender.future[tx.nonce] = tx
        queue = self._ready.setdefault(sender.city, {})
        while sender.next_nonce in sender.future:
            promoted = sender.future.pop(sender.next_nonce)
            queue[promoted.hash] = promoted
            sender.next_nonce += 1
        if self._on_admitted is not None:
            self._on_admitted(tx)

    @_locked
    def take_batch(
        self, gas_limit: int, max_count: int | None = None
    ) -> list[SignedTransactionAPI]:
        """Ready transactions for one block of `gas_limit` (at most `max_count` of them if
        given), shared between cities as the module describes; each city's in its order."""
        backlogged = [city for city, queue in self._ready.items() if queue]
        for city in list(self._credit):
            if city not in backlogged:
                del self._credit[city]
        if not backlogged:
            return []
        share = gas_limit // len(backlogged)
        for city in backlogged:
            head = next(iter(self._ready[city].values()))
            ceiling = max(gas_limit, head.gas)
            self._credit[city] = min(self._credit.get(city, 0) + share, ceiling)
        # Highest credit first; among equals, in queue order, which rotates by one each block.
        order = sorted(backlogged, key=lambda city: -self._credit[city])
        batch: list[SignedTransactionAPI] = []
        gas = 0

        def room(tx: SignedTransactionAPI) -> bool:
            return gas + tx.gas <= gas_limit and len(batch) != max_count

        for city in order:
            for tx in list(self._ready[city].values()):
                if tx.gas > self._credit[city] or not room(tx):
                    break
                self._credit[city] -= tx.gas
                gas += tx.gas
                batch.append(self._take(city, tx))
        # Space no credit claimed: one transaction per city per turn, while any fits.
        served = True
        while served:
            served = False
            for city in order:
                queue = self._ready[city]
                if queue and room(head := next(iter(queue.values()))):
                    gas += head.gas
                    batch.append(self._take(city, head))
                    served = True
        self._ready[order[0]] = self._ready.pop(order[0])  # first among equals next time: another
        return batch

    def _take(self, city: bytes, tx: SignedTransactionAPI) -> SignedTransactionAPI:
        del self._ready[city][tx.hash]
        self._in_flight[tx.hash] = tx
        return tx

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
        """A batch whose block was not finalized goes back to the front of its cities' queues."""
        returned: dict[bytes, dict[bytes, SignedTransactionAPI]] = {}
        for tx in batch:
            if self._in_flight.pop(tx.hash, None) is not None:
                city = self._senders[tx.sender].city
                returned.setdefault(city, {})[tx.hash] = tx
        for city, front in returned.items():
            front.update(self._ready.get(city, {}))
            self._ready[city] = front

    def _forget(self, tx: SignedTransactionAPI) -> None:
        if self._known.pop(tx.hash, None) is None:
            return
        self._in_flight.pop(tx.hash, None)
        sender = self._senders.get(tx.sender)
        if sender is None:
            return
        self._ready.get(sender.city, {}).pop(tx.hash, None)
        sender.future.pop(tx.nonce, None)
        sender.count -= 1
        self._per_city[sender.city] -= 1
        if not self._per_city[sender.city]:
            del self._per_city[sender.city]
        if sender.count == 0:
            del self._senders[tx.sender]
