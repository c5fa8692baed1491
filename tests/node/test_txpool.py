"""The transaction pool on its own: every admission refusal by its message, and a hypothesis
state machine that adds, takes, returns, drops and settles real signed transactions while a
plain model predicts what the pool must accept and hold.

The invariant that matters most for block validity: a batch taken for a block holds, for each
sender, consecutive nonces starting at the sender's nonce at the head. And for fairness: a city
with transactions waiting gets its share of every block, however many another city sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import pytest
import rlp
from eth.abc import SignedTransactionAPI
from eth_account import Account
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cityledger.node.admission import TxRejected
from cityledger.node.config import PoolLimits
from cityledger.node.consensus.signing import SECP256K1_N
from cityledger.node.txpool import TxPool

CHAIN_ID = 1337
GAS_LIMIT = 30_000_000
SENDERS = [Account.from_key(bytes([i + 1]) * 32) for i in range(4)]
OUTSIDER = 3  # SENDERS[3] is not a member of the consortium
CITY_OF = {0: b"harbin", 1: b"harbin", 2: b"qiqihar"}  # two agencies of one city, one of another
RECIPIENT = "0x" + "42" * 20


@dataclass
class Head:
    """The state at the head as admission reads it (the node's is `HeadStateView`)."""

    nonces: dict[bytes, int] = field(default_factory=dict)
    chain_id: int = CHAIN_ID
    gas_limit: int = GAS_LIMIT

    def nonce(self, address: bytes) -> int:
        return self.nonces.get(bytes(address), 0)

    def balance(self, address: bytes) -> int:
        return 10**18

    def sender_city(self, address: bytes) -> bytes | None:
        return next(
            (
                CITY_OF.get(i)
                for i, s in enumerate(SENDERS)
                if bytes.fromhex(s.address[2:]) == address
            ),
            None,
        )


def address(sender: int) -> bytes:
    return bytes.fromhex(SENDERS[sender].address[2:])


def sign(sender: int, nonce: int, **fields: object) -> bytes:
    tx: dict[str, object] = {
        "type": 2,
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "to": RECIPIENT,
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        **fields,
    }
    raw: bytes = SENDERS[sender].sign_transaction(tx).raw_transaction
    return raw


@cache
def signed(sender: int, nonce: int) -> bytes:
    return sign(sender, nonce)


def admitted(pool: TxPool, raw: bytes, head: Head) -> SignedTransactionAPI:
    tx = pool.decode(raw)
    pool.add(tx, head)
    return tx


def refusal(pool: TxPool, raw: bytes, head: Head | None = None) -> str:
    with pytest.raises(TxRejected) as refused:
        admitted(pool, raw, head or Head())
    return str(refused.value)


def test_decoding_refuses_what_is_not_a_valid_transaction() -> None:
    pool = TxPool(PoolLimits(max_tx_bytes=1_000))
    assert "limit is 1000" in refusal(pool, signed(0, 0) + b"\0" * 1_000)
    assert "blob transactions" in refusal(pool, b"\x03" + signed(0, 0)[1:])
    assert "cannot be decoded" in refusal(pool, b"\x02\xc0")
    assert "cannot be decoded" in refusal(pool, b"not a transaction")
    # The same signature with s mirrored into the upper half: it still recovers the sender,
    # but EIP-2 forbids it (one transaction must not have two hashes).
    *fields, y_parity, r, s = rlp.decode(signed(0, 0)[1:])
    high_s = (SECP256K1_N - int.from_bytes(s, "big")).to_bytes(32, "big")
    mirrored = b"\x02" + rlp.encode([*fields, b"" if y_parity else b"\x01", r, high_s])
    assert "lower half" in refusal(pool, mirrored)


def test_admission_refuses_each_rule_by_name() -> None:
    pool = TxPool(PoolLimits(max_pool_size=4, max_per_sender=2, max_per_city=3, max_nonce_gap=4))
    head = Head()
    unprotected = (
        SENDERS[0]
        .sign_transaction({"nonce": 0, "to": RECIPIENT, "value": 0, "gas": 21_000, "gasPrice": 0})
        .raw_transaction
    )
    assert "not replay-protected" in refusal(pool, unprotected)
    assert "chain id 5" in refusal(pool, sign(0, 0, chainId=5))
    assert "exceeds the block gas limit" in refusal(pool, sign(0, 0, gas=GAS_LIMIT + 1))
    assert "below its intrinsic cost" in refusal(pool, sign(0, 0, gas=20_000))
    assert "not a registered agency" in refusal(pool, signed(OUTSIDER, 0))

    admitted(pool, signed(0, 0), head)
    assert "already pending" in refusal(pool, signed(0, 0), head)
    assert "too far ahead" in refusal(pool, signed(0, 6), head)
    admitted(pool, signed(0, 3), head)  # waits for nonces 1 and 2
    assert "already has 2 pending" in refusal(pool, signed(0, 1), head)
    admitted(pool, signed(1, 0), head)
    assert "city already have 3 pending" in refusal(pool, signed(1, 1), head)
    assert "was already used" in refusal(pool, signed(2, 0), Head({address(2): 1}))
    admitted(pool, signed(2, 0), head)
    assert "pool is full" in refusal(pool, signed(2, 1), head)
    assert len(pool) == 4


def test_a_gap_holds_later_nonces_back_until_it_is_filled() -> None:
    pool, head = TxPool(PoolLimits()), Head()
    for nonce in (2, 1):
        admitted(pool, signed(0, nonce), head)
    assert not pool.has_ready and pool.take_batch(GAS_LIMIT) == []
    admitted(pool, signed(0, 0), head)
    assert [tx.nonce for tx in pool.take_batch(GAS_LIMIT)] == [0, 1, 2]
    assert pool.pending_nonce(address(0), 0) == 3


def test_a_city_gets_its_share_of_a_block_however_much_another_sends() -> None:
    pool, head = TxPool(PoolLimits()), Head()
    for nonce in range(40):
        admitted(pool, signed(0, nonce), head)  # Harbin's agencies flood the pool
        admitted(pool, signed(1, nonce), head)
    admitted(pool, signed(2, 0), head)  # Qiqihar sends one, after all of them
    block = pool.take_batch(10 * 21_000)
    assert address(2) in [tx.sender for tx in block]
    assert len(block) == 10


def test_a_transaction_of_the_whole_block_gets_its_turn() -> None:
    pool, head = TxPool(PoolLimits()), Head()
    block_gas = 10 * 21_000
    admitted(pool, sign(2, 0, gas=block_gas), head)  # Qiqihar: one transaction filling a block
    waited = 0
    for nonce in range(40):  # Harbin: always more than a block's worth
        admitted(pool, signed(0, nonce), head)
    while True:
        block = pool.take_batch(block_gas)
        if any(tx.sender == address(2) for tx in block):
            break
        pool.settle(block, [])
        for tx in block:
            head.nonces[tx.sender] = tx.nonce + 1
        waited += 1
    assert waited <= 2  # two cities backlogged: its credit covers the whole block by then
    assert block == [tx for tx in block if tx.sender == address(2)]


class PoolMachine(RuleBasedStateMachine):
    """The pool against a model: for each sender the nonces it holds, and at most one batch
    in flight (as the block producer has it)."""

    def __init__(self) -> None:
        super().__init__()
        self.limits = PoolLimits(
            max_pool_size=12, max_per_sender=5, max_per_city=8, max_nonce_gap=3
        )
        self.pool = TxPool(self.limits)
        self.head = Head()
        self.held: dict[int, set[int]] = {s: set() for s in range(len(SENDERS))}
        self.batch: list[SignedTransactionAPI] = []

    def _next_nonce(self, sender: int) -> int:
        nonce = self.head.nonce(address(sender))
        while nonce in self.held[sender]:
            nonce += 1
        return nonce

    def _expect_accepted(self, sender: int, nonce: int) -> bool:
        return (
            sender != OUTSIDER
            and nonce >= self.head.nonce(address(sender))
            and nonce not in self.held[sender]
            and nonce <= self._next_nonce(sender) + self.limits.max_nonce_gap
            and len(self.held[sender]) < self.limits.max_per_sender
            and sum(len(h) for s, h in self.held.items() if CITY_OF.get(s) == CITY_OF[sender])
            < self.limits.max_per_city
            and sum(len(h) for h in self.held.values()) < self.limits.max_pool_size
        )

    @rule(sender=st.integers(0, len(SENDERS) - 1), nonce=st.integers(0, 12))
    def add(self, sender: int, nonce: int) -> None:
        expected = self._expect_accepted(sender, nonce)
        try:
            admitted(self.pool, signed(sender, nonce), self.head)
        except TxRejected:
            assert not expected, f"refused sender {sender} nonce {nonce}"
        else:
            assert expected, f"accepted sender {sender} nonce {nonce}"
            self.held[sender].add(nonce)

    @precondition(lambda self: not self.batch)
    @rule(max_count=st.integers(1, 8))
    def take(self, max_count: int) -> None:
        self.batch = self.pool.take_batch(GAS_LIMIT, max_count=max_count)
        assert len(self.batch) <= max_count
        for sender in range(len(SENDERS)):
            nonces = [tx.nonce for tx in self.batch if tx.sender == address(sender)]
            start = self.head.nonce(address(sender))
            assert nonces == list(range(start, start + len(nonces))), (sender, nonces)

    @precondition(lambda self: bool(self.batch))
    @rule()
    def give_back(self) -> None:
        self.pool.return_batch(self.batch)
        self.batch = []

    @precondition(lambda self: bool(self.batch))
    @rule()
    def finalize(self) -> None:
        self.pool.settle(self.batch, [])
        for tx in self.batch:
            sender = next(s for s in range(len(SENDERS)) if address(s) == tx.sender)
            self.held[sender].discard(tx.nonce)
            self.head.nonces[tx.sender] = tx.nonce + 1
        self.batch = []

    @precondition(lambda self: bool(self.batch))
    @rule(data=st.data())
    def drop_a_sender(self, data: st.DataObject) -> None:
        """Execution found a transaction no longer valid: that sender starts over."""
        dropped = data.draw(st.sampled_from(self.batch))
        self.pool.settle([], [dropped])
        sender = next(s for s in range(len(SENDERS)) if address(s) == dropped.sender)
        self.held[sender] = set()
        self.batch = [tx for tx in self.batch if tx.sender != dropped.sender]

    @invariant()
    def holds_what_the_model_holds(self) -> None:
        assert len(self.pool) == sum(len(h) for h in self.held.values())
        for sender in self.held:
            head_nonce = self.head.nonce(address(sender))
            assert self.pool.pending_nonce(address(sender), head_nonce) == max(
                self._next_nonce(sender), head_nonce
            )

    @invariant()
    def ready_means_a_sender_can_go_next(self) -> None:
        if not self.batch:
            can_go = any(
                self._next_nonce(s) > self.head.nonce(address(s)) for s in range(len(SENDERS))
            )
            assert self.pool.has_ready == can_go


PoolMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
test_pool_state_machine = PoolMachine.TestCase
