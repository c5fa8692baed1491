"""The Python allocation rules: worked examples and the guarantees each rule states."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityledger.sdk.allocation import (
    AllocationRequest,
    AllocationRule,
    allocate,
    max_min_fair,
    priority_weighted,
    proportional,
    water_level,
)

amounts_st = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=12)


@st.composite
def requests_and_available(draw: st.DrawFn) -> tuple[list[AllocationRequest], int]:
    amounts = draw(amounts_st)
    priorities = draw(st.lists(st.integers(1, 5), min_size=len(amounts), max_size=len(amounts)))
    available = draw(st.integers(min_value=0, max_value=sum(amounts) * 2))
    requests = [AllocationRequest(a, p) for a, p in zip(amounts, priorities, strict=True)]
    return requests, available


def test_scenario_vaccine_doses_max_min_fair() -> None:
    # Qiqihar, Mudanjiang, Jiamusi, Daqing ask for 10k, 30k, 45k, 40k of 100k doses.
    assert max_min_fair(100_000, [10_000, 30_000, 45_000, 40_000]) == [
        10_000,
        30_000,
        30_000,
        30_000,
    ]


def test_max_min_fair_gives_left_over_units_to_earlier_requests() -> None:
    # level 10/3: everybody gets 3, the one unit left goes to the first request
    assert max_min_fair(10, [5, 5, 5]) == [4, 3, 3]
    assert max_min_fair(10, [1, 5, 5, 5]) == [1, 3, 3, 3]


def test_proportional_largest_remainder_with_ties_to_the_earlier_request() -> None:
    assert proportional(100, [50, 100, 150]) == [17, 33, 50]  # 16.67, 33.33, 50
    assert proportional(10, [1, 1, 1]) == [1, 1, 1]
    assert proportional(2, [1, 1, 1]) == [1, 1, 0]
    assert proportional(7, [3, 6, 9]) == [1, 2, 4]  # 1.17, 2.33, 3.5 -> the .5 gets the unit


def test_priority_weighted_redistributes_what_a_capped_request_leaves() -> None:
    # weights 10*5=50 and 100*1=100: 16.7 of 50 for the first exceeds its 10, so it is capped
    # at 10 and the other 40 go to the second.
    assert priority_weighted(50, [10, 100], [5, 1]) == [10, 40]
    # equal amounts: shares follow the priorities, 3:1
    assert priority_weighted(40, [100, 100], [3, 1]) == [30, 10]


def test_everyone_gets_the_full_amount_when_enough_is_available() -> None:
    for rule in AllocationRule:
        requests = [AllocationRequest(5, 1), AllocationRequest(7, 3)]
        assert allocate(rule, 12, requests) == [5, 7]
        assert allocate(rule, 1_000, requests) == [5, 7]


def test_nothing_available_and_no_requests() -> None:
    assert proportional(0, [3, 4]) == [0, 0]
    assert max_min_fair(5, []) == []


@pytest.mark.parametrize(
    ("amount", "priority"), [(0, 1), (-1, 1), (5, 0), (5, 6)], ids=["zero", "negative", "p0", "p6"]
)
def test_invalid_requests_are_refused(amount: int, priority: int) -> None:
    with pytest.raises(ValueError):
        AllocationRequest(amount, priority)


def test_negative_available_is_refused() -> None:
    with pytest.raises(ValueError, match="available"):
        proportional(-1, [1])


def test_water_level_needs_a_shortage() -> None:
    assert water_level(6, [2, 10], [1, 1]) == Fraction(4)
    with pytest.raises(ValueError):
        water_level(12, [2, 10], [1, 1])


@given(requests_and_available(), st.sampled_from(list(AllocationRule)))
def test_every_rule_stays_within_requests_and_hands_out_all_it_can(
    case: tuple[list[AllocationRequest], int], rule: AllocationRule
) -> None:
    requests, available = case
    allocation = allocate(rule, available, requests)
    assert len(allocation) == len(requests)
    assert all(0 <= a <= r.amount for a, r in zip(allocation, requests, strict=True))
    assert sum(allocation) == min(available, sum(r.amount for r in requests))


@given(amounts_st, st.integers(min_value=0, max_value=200_000))
def test_proportional_gives_floor_or_ceil_of_the_exact_share(
    amounts: list[int], available: int
) -> None:
    allocation = proportional(available, amounts)
    total = sum(amounts)
    if available >= total:
        assert allocation == amounts
        return
    for a, amount in zip(allocation, amounts, strict=True):
        exact = Fraction(available * amount, total)
        assert a in (exact.__floor__(), exact.__ceil__())


@given(amounts_st, st.integers(min_value=0, max_value=200_000))
def test_max_min_fair_is_water_filling(amounts: list[int], available: int) -> None:
    allocation = max_min_fair(available, amounts)
    unsatisfied = [a for a, amount in zip(allocation, amounts, strict=True) if a < amount]
    if not unsatisfied:
        return
    # everyone left short gets the level L or L + 1, and no satisfied request got more than L + 1
    level = min(unsatisfied)
    assert max(unsatisfied) <= level + 1
    assert max(allocation) <= level + 1


@given(requests_and_available())
def test_priority_weighted_shares_follow_amount_times_priority(
    case: tuple[list[AllocationRequest], int],
) -> None:
    requests, available = case
    allocation = allocate(AllocationRule.PRIORITY_WEIGHTED, available, requests)
    short = [(a, r) for a, r in zip(allocation, requests, strict=True) if a < r.amount]
    # one rate for everyone left short: each got rate * weight, up to one unit of rounding
    for a, r in short:
        for b, s in short:
            wa, wb = r.amount * r.priority, s.amount * s.priority
            assert Fraction(a - 1, wa) < Fraction(b + 1, wb)
    # a request left short never gets less per unit of weight than a satisfied one, up to the
    # one unit of rounding the satisfied one may have received
    for a, r in short:
        for b, s in zip(allocation, requests, strict=True):
            if b == s.amount:
                assert Fraction(a + 1, r.amount * r.priority) > Fraction(
                    b - 1, s.amount * s.priority
                )
