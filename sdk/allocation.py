"""The allocation rules of ResourceAllocation, in Python, to show and check what the chain computed.

Written independently of the Solidity code: the contract iterates capping passes in integers,
this module sorts requests by need per unit of weight to find the water level exactly (with
fractions), then rounds by the same stated rule. Both compute the capped weighted water-filling

    allocation[i] = min(amount[i], level * weight[i])   with   sum = min(sum amount, available)

rounded down, the units left over going one each to the uncapped requests with the largest
fractional parts, ties to the earlier request (largest remainder method). The weight is the
amount (PROPORTIONAL), amount * priority (PRIORITY_WEIGHTED) or 1 (MAX_MIN_FAIR).

Guarantees: no request gets more than its amount; the total is min(total requested, available).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction

MIN_PRIORITY = 1
MAX_PRIORITY = 5


class AllocationRule(IntEnum):
    """Values as in the contract's `AllocationRule` enum."""

    PROPORTIONAL = 0
    PRIORITY_WEIGHTED = 1
    MAX_MIN_FAIR = 2


@dataclass(frozen=True)
class AllocationRequest:
    amount: int
    priority: int = MIN_PRIORITY

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"a request's amount must be positive, got {self.amount}")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise ValueError(
                f"priority must be within {MIN_PRIORITY}..{MAX_PRIORITY}, got {self.priority}"
            )


def weight(rule: AllocationRule, request: AllocationRequest) -> int:
    if rule is AllocationRule.PROPORTIONAL:
        return request.amount
    if rule is AllocationRule.PRIORITY_WEIGHTED:
        return request.amount * request.priority
    return 1


def allocate(
    rule: AllocationRule, available: int, requests: Sequence[AllocationRequest]
) -> list[int]:
    """Each request's allocation, in request order, under `rule` with `available` units."""
    if available < 0:
        raise ValueError(f"available must not be negative, got {available}")
    if sum(r.amount for r in requests) <= available:
        return [r.amount for r in requests]
    weights = [weight(rule, r) for r in requests]
    level = water_level(available, [r.amount for r in requests], weights)
    exact = [min(Fraction(r.amount), level * w) for r, w in zip(requests, weights, strict=True)]
    allocation = [int(share) for share in exact]  # floor: shares are non-negative
    left_over = available - sum(allocation)
    uncapped = [i for i, r in enumerate(requests) if exact[i] < r.amount]
    by_fraction = sorted(uncapped, key=lambda i: (-(exact[i] - allocation[i]), i))
    for i in by_fraction[:left_over]:
        allocation[i] += 1
    return allocation


def water_level(available: int, amounts: Sequence[int], weights: Sequence[int]) -> Fraction:
    """The level L with sum(min(amount, L * weight)) == available, for available < sum(amounts).

    Requests are capped in increasing order of amount / weight (the level at which each is
    satisfied); the first request whose cap lies above the level the others leave is uncapped,
    and so are all after it.
    """
    order = sorted(range(len(amounts)), key=lambda i: Fraction(amounts[i], weights[i]))
    remaining = available
    remaining_weight = sum(weights)
    for i in order:
        level = Fraction(remaining, remaining_weight)
        if amounts[i] > level * weights[i]:
            return level
        remaining -= amounts[i]
        remaining_weight -= weights[i]
    raise ValueError("water_level needs available < sum(amounts)")


def proportional(available: int, amounts: Sequence[int]) -> list[int]:
    return allocate(AllocationRule.PROPORTIONAL, available, [AllocationRequest(a) for a in amounts])


def priority_weighted(
    available: int, amounts: Sequence[int], priorities: Sequence[int]
) -> list[int]:
    requests = [AllocationRequest(a, p) for a, p in zip(amounts, priorities, strict=True)]
    return allocate(AllocationRule.PRIORITY_WEIGHTED, available, requests)


def max_min_fair(available: int, amounts: Sequence[int]) -> list[int]:
    return allocate(AllocationRule.MAX_MIN_FAIR, available, [AllocationRequest(a) for a in amounts])
