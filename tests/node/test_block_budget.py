"""The block budget: a block's size follows how long this node takes to execute one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.node.production.budget import (
    FIRST_LIMIT,
    LEAST_LIMIT,
    SHARE_OF_ROUND_TIMEOUT,
    BlockBudget,
)


def executes_in(fixed: float, per_transaction: float, transactions: int) -> float:
    return fixed + per_transaction * transactions


@given(
    fixed=st.floats(0.0, 0.05),
    per_transaction=st.floats(1e-5, 0.02),
    budget=st.floats(0.05, 2.0),
)
@settings(max_examples=200)
def test_blocks_settle_at_the_size_that_executes_in_the_budget(
    fixed: float, per_transaction: float, budget: float
) -> None:
    blocks = BlockBudget(budget)
    for _ in range(60):
        size = blocks.limit
        blocks.observe(size, executes_in(fixed, per_transaction, size))
    size = blocks.limit
    if size > LEAST_LIMIT:
        # Within a tenth of the budget once settled, never the doubled timers' worth over.
        assert executes_in(fixed, per_transaction, size) <= budget * 1.1
        assert executes_in(fixed, per_transaction, 2 * size) >= budget * 0.9
    else:
        assert executes_in(fixed, per_transaction, LEAST_LIMIT + 1) > budget * 0.9


@given(
    observations=st.lists(
        st.tuples(st.integers(0, 5000), st.floats(0.0, 10.0, allow_subnormal=False)),
        max_size=40,
    )
)
def test_the_limit_at_most_doubles_per_block_and_never_falls_below_the_least(
    observations: list[tuple[int, float]],
) -> None:
    blocks = BlockBudget(0.25)
    assert blocks.limit == FIRST_LIMIT
    for transactions, seconds in observations:
        before = blocks.limit
        blocks.observe(transactions, seconds)
        assert LEAST_LIMIT <= blocks.limit <= 2 * before


def test_a_slow_machine_gets_smaller_blocks_than_a_fast_one() -> None:
    slow, fast = BlockBudget.for_round_timeout(1.0), BlockBudget.for_round_timeout(1.0)
    for _ in range(10):
        slow.observe(slow.limit, slow.limit * 0.008)
        fast.observe(fast.limit, fast.limit * 0.001)
    assert slow.limit == int(SHARE_OF_ROUND_TIMEOUT / 0.008)
    assert fast.limit == int(SHARE_OF_ROUND_TIMEOUT / 0.001)


def test_empty_blocks_teach_nothing() -> None:
    blocks = BlockBudget(0.25)
    blocks.observe(0, 3.0)
    assert blocks.limit == FIRST_LIMIT


def test_a_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BlockBudget(0.0)
