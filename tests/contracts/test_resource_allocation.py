"""ResourceAllocation: pools, rounds, requests, the on-chain rules, approval by quorum, receipts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from chain_helpers import CITIES, TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxParams

from cityledger.contracts.deployment import city_id, text32
from cityledger.sdk.allocation import AllocationRequest, AllocationRule, allocate

RA = "ResourceAllocation"
PROPORTIONAL, PRIORITY_WEIGHTED, MAX_MIN_FAIR = (int(r) for r in AllocationRule)
OPEN, VOTING, APPROVED, REJECTED, CANCELLED = 1, 2, 3, 4, 5
MAX_AMOUNT = 2**96 - 1
DOSES, DOSE = text32("vaccine-doses"), text32("dose")
COORDINATOR = "Harbin"
REQUESTERS = ("Qiqihar", "Mudanjiang", "Jiamusi", "Daqing")


def ra(c: TestConsortium) -> Contract:
    return c.contracts[RA]


def allocator(c: TestConsortium, city: str) -> LocalAccount:
    return c.agencies[f"{city.lower()}.emergency"]


def justification(text: str) -> bytes:
    return keccak(text=text)


def create_pool(
    c: TestConsortium,
    members: Sequence[str] = CITIES,
    capacity: int = 100_000,
    rule: int = MAX_MIN_FAIR,
    coordinator: str = COORDINATOR,
) -> int:
    ids = [city_id(m) for m in members]
    c.transact(ra(c).functions.createPool(DOSES, DOSE, capacity, ids, rule), c.admins[coordinator])
    return int(ra(c).functions.poolCount().call())


def open_round(c: TestConsortium, pool: int, amount: int, rule: int = MAX_MIN_FAIR) -> int:
    c.transact(ra(c).functions.openRound(pool, rule, amount), c.admins[COORDINATOR])
    return int(ra(c).functions.getPool(pool).call()[7])


def file(c: TestConsortium, pool: int, city: str, amount: int, priority: int = 3) -> None:
    call = ra(c).functions.fileRequest(pool, amount, priority, justification(f"{city} {amount}"))
    c.transact(call, allocator(c, city))


def round_status(c: TestConsortium, pool: int, round_id: int) -> int:
    return int(ra(c).functions.getRound(pool, round_id).call()[1])


def voting_round(
    c: TestConsortium, amounts: dict[str, int], available: int = 100_000
) -> tuple[int, int]:
    pool = create_pool(c)
    round_id = open_round(c, pool, available)
    for city, amount in amounts.items():
        file(c, pool, city, amount)
    c.transact(ra(c).functions.closeRound(pool), c.admins[COORDINATOR])
    return pool, round_id


def approved_round(c: TestConsortium, amounts: dict[str, int]) -> tuple[int, int]:
    pool, round_id = voting_round(c, amounts)
    for city in CITIES[:4]:
        c.transact(ra(c).functions.approveRound(pool, round_id), c.admins[city])
    return pool, round_id


def events(contract: Contract, name: str, receipt: Any) -> list[Any]:
    return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))


# ---------------------------------------------------------------- the whole scenario


def test_vaccine_pool_scenario(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool = create_pool(c)
    assert list(fn.getPool(pool).call()[:5]) == [DOSES, DOSE, 100_000, 0, city_id(COORDINATOR)]
    assert fn.poolMembers(pool).call() == [city_id(m) for m in CITIES]
    assert fn.poolsOfCity(city_id("Daqing")).call() == [pool]
    receipt = c.transact(fn.openRound(pool, MAX_MIN_FAIR, 100_000), c.admins[COORDINATOR])
    (opened,) = events(ra(c), "RoundOpened", receipt)
    assert (opened.args.poolId, opened.args.roundId, opened.args.amount) == (pool, 1, 100_000)

    asks = {"Qiqihar": 10_000, "Mudanjiang": 30_000, "Jiamusi": 45_000, "Daqing": 40_000}
    for city, amount in asks.items():
        file(c, pool, city, amount)
    requests = fn.requestsOf(pool, 1).call()
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in requests] == [
        (city_id(city), justification(f"{city} {amount}"), allocator(c, city).address, amount, 3)
        for city, amount in asks.items()
    ]
    receipt = c.transact(fn.closeRound(pool), c.admins[COORDINATOR])
    expected = [10_000, 30_000, 30_000, 30_000]
    computed = events(ra(c), "AllocationComputed", receipt)
    assert [(e.args.cityId, e.args.allocated) for e in computed] == list(
        zip([city_id(x) for x in asks], expected, strict=True)
    )
    assert list(fn.allocationsOf(pool, 1).call()) == [[city_id(x) for x in asks], expected]
    assert round_status(c, pool, 1) == VOTING

    for city in CITIES[:3]:
        c.transact(fn.approveRound(pool, 1), c.admins[city])
    assert round_status(c, pool, 1) == VOTING  # 3 of 5 is not more than two thirds
    receipt = c.transact(fn.approveRound(pool, 1), c.admins[CITIES[3]])
    (approved,) = events(ra(c), "RoundApproved", receipt)
    assert (approved.args.totalAllocated, approved.args.poolAllocated) == (100_000, 100_000)
    assert round_status(c, pool, 1) == APPROVED
    assert fn.getPool(pool).call()[3] == 100_000

    c.transact(fn.confirmReceipt(pool, 1, 30_000), allocator(c, "Jiamusi"))
    receipt = c.transact(fn.confirmReceipt(pool, 1, 9_500), c.admins["Qiqihar"])
    (confirmed,) = events(ra(c), "ReceiptConfirmed", receipt)
    assert (confirmed.args.allocated, confirmed.args.received) == (10_000, 9_500)
    receipts = fn.receiptsOf(pool, 1).call()
    assert [(r[0], r[1], r[2], r[3]) for r in receipts] == [
        (city_id("Jiamusi"), allocator(c, "Jiamusi").address, 30_000, 30_000),
        (city_id("Qiqihar"), c.admins["Qiqihar"].address, 10_000, 9_500),
    ]
    (history,) = fn.roundsOf(pool).call()
    assert list(history[:5]) == [MAX_MIN_FAIR, APPROVED, 100_000, 125_000, 100_000]
    assert list(history[8:]) == [4, 0]


# ---------------------------------------------------------------- createPool


def test_create_pool_event_and_subset_membership(consortium: TestConsortium) -> None:
    c = consortium
    members = [city_id(x) for x in ("Harbin", "Jiamusi")]
    receipt = c.transact(
        ra(c).functions.createPool(DOSES, DOSE, 500, members, PROPORTIONAL), c.admins["Harbin"]
    )
    (created,) = events(ra(c), "PoolCreated", receipt)
    assert created.args.poolId == 1
    assert created.args.coordinatorCity == city_id("Harbin")
    assert created.args.members == members
    assert ra(c).functions.isPoolMember(1, city_id("Jiamusi")).call()
    assert not ra(c).functions.isPoolMember(1, city_id("Daqing")).call()
    assert ra(c).functions.poolsOfCity(city_id("Daqing")).call() == []


@pytest.mark.parametrize(
    ("members", "capacity", "error"),
    [
        ([], 100, "InvalidMembers"),
        (["Harbin", "Suihua"], 100, "InactiveCity"),
        (["Harbin", "Jiamusi", "Harbin"], 100, "DuplicateMember"),
        (["Jiamusi", "Daqing"], 100, "CoordinatorNotMember"),
        (list(CITIES), 0, "ZeroAmount"),
        (list(CITIES), MAX_AMOUNT + 1, "AmountTooLarge"),
    ],
)
def test_create_pool_refusals(
    consortium: TestConsortium, members: list[str], capacity: int, error: str
) -> None:
    call = ra(consortium).functions.createPool(
        DOSES, DOSE, capacity, [city_id(m) for m in members], PROPORTIONAL
    )
    with reverts_with(RA, error):
        call.transact({"from": consortium.admins["Harbin"].address})


def test_create_pool_needs_a_city_admin(consortium: TestConsortium) -> None:
    call = ra(consortium).functions.createPool(DOSES, DOSE, 10, [city_id("Harbin")], PROPORTIONAL)
    with reverts_with(RA, "NotCityAdmin"):
        call.transact({"from": allocator(consortium, "Harbin").address})


def test_too_many_members_refused(consortium: TestConsortium) -> None:
    ids = [city_id("Harbin")] + [keccak(text=f"city {i}") for i in range(64)]
    call = ra(consortium).functions.createPool(DOSES, DOSE, 10, ids, PROPORTIONAL)
    with reverts_with(RA, "InvalidMembers"):
        call.transact({"from": consortium.admins["Harbin"].address})


# ---------------------------------------------------------------- openRound


def test_open_round_refusals(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    harbin: TxParams = {"from": c.admins["Harbin"].address}
    with reverts_with(RA, "UnknownPool"):
        fn.openRound(1, PROPORTIONAL, 10).transact(harbin)
    pool = create_pool(c, capacity=1_000)
    with reverts_with(RA, "NotCoordinator"):
        fn.openRound(pool, PROPORTIONAL, 10).transact({"from": c.admins["Jiamusi"].address})
    with reverts_with(RA, "NotCoordinator"):
        fn.openRound(pool, PROPORTIONAL, 10).transact({"from": allocator(c, "Harbin").address})
    with reverts_with(RA, "ZeroAmount"):
        fn.openRound(pool, PROPORTIONAL, 0).transact(harbin)
    with reverts_with(RA, "AmountExceedsRemaining"):
        fn.openRound(pool, PROPORTIONAL, 1_001).transact(harbin)
    open_round(c, pool, 800)
    with reverts_with(RA, "RoundInProgress"):
        fn.openRound(pool, PROPORTIONAL, 10).transact(harbin)
    file(c, pool, "Jiamusi", 900)
    c.transact(fn.closeRound(pool), c.admins["Harbin"])
    with reverts_with(RA, "RoundInProgress"):
        fn.openRound(pool, PROPORTIONAL, 10).transact(harbin)
    for city in CITIES[:4]:
        c.transact(fn.approveRound(pool, 1), c.admins[city])
    # 800 of 1,000 are allocated now
    with reverts_with(RA, "AmountExceedsRemaining"):
        fn.openRound(pool, PROPORTIONAL, 201).transact(harbin)
    assert open_round(c, pool, 200, PRIORITY_WEIGHTED) == 2
    assert list(fn.getRound(pool, 2).call()[:3]) == [PRIORITY_WEIGHTED, OPEN, 200]


# ---------------------------------------------------------------- fileRequest


def test_file_request_by_allocator_or_admin(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool = create_pool(c)
    open_round(c, pool, 1_000)
    receipt = c.transact(fn.fileRequest(pool, 300, 5, justification("icu")), allocator(c, "Daqing"))
    (filed,) = events(ra(c), "RequestFiled", receipt)
    assert (filed.args.poolId, filed.args.roundId, filed.args.cityId) == (
        pool,
        1,
        city_id("Daqing"),
    )
    assert (filed.args.amount, filed.args.priority) == (300, 5)
    c.transact(fn.fileRequest(pool, 200, 1, justification("x")), c.admins["Harbin"])
    assert fn.getRound(pool, 1).call()[3] == 500


@pytest.mark.parametrize(
    ("amount", "priority", "error"),
    [
        (0, 3, "ZeroAmount"),
        (MAX_AMOUNT + 1, 3, "AmountTooLarge"),
        (5, 0, "InvalidPriority"),
        (5, 6, "InvalidPriority"),
    ],
)
def test_file_request_bad_terms(
    consortium: TestConsortium, amount: int, priority: int, error: str
) -> None:
    pool = create_pool(consortium)
    open_round(consortium, pool, 1_000)
    call = ra(consortium).functions.fileRequest(pool, amount, priority, justification("x"))
    with reverts_with(RA, error):
        call.transact({"from": allocator(consortium, "Jiamusi").address})


def test_file_request_refusals(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    ask = fn.fileRequest(1, 10, 3, justification("x"))
    with reverts_with(RA, "UnknownPool"):
        ask.transact({"from": allocator(c, "Jiamusi").address})
    pool = create_pool(c, members=["Harbin", "Jiamusi"])
    with reverts_with(RA, "NoOpenRound"):
        ask.transact({"from": allocator(c, "Jiamusi").address})
    open_round(c, pool, 100)
    with reverts_with(RA, "NotAllocator"):  # a GRANTEE-only agency
        ask.transact({"from": c.agencies["jiamusi.health"].address})
    with reverts_with(RA, "NotAllocator"):  # the auditor
        ask.transact({"from": c.agencies["audit"].address})
    with reverts_with(RA, "NotPoolMember"):
        ask.transact({"from": allocator(c, "Daqing").address})
    with reverts_with(RA, "NotPoolMember"):
        ask.transact({"from": c.admins["Daqing"].address})
    file(c, pool, "Jiamusi", 10)
    with reverts_with(RA, "RequestAlreadyFiled"):  # one per city, whoever files it
        ask.transact({"from": c.admins["Jiamusi"].address})
    c.transact(fn.closeRound(pool), c.admins["Harbin"])
    with reverts_with(RA, "NoOpenRound"):
        ask.transact({"from": allocator(c, "Harbin").address})


# ---------------------------------------------------------------- closeRound and cancelRound


def test_close_round_refusals(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    harbin: TxParams = {"from": c.admins["Harbin"].address}
    pool = create_pool(c)
    with reverts_with(RA, "NoOpenRound"):
        fn.closeRound(pool).transact(harbin)
    open_round(c, pool, 100)
    with reverts_with(RA, "NoRequests"):
        fn.closeRound(pool).transact(harbin)
    file(c, pool, "Jiamusi", 10)
    with reverts_with(RA, "NotCoordinator"):
        fn.closeRound(pool).transact({"from": c.admins["Jiamusi"].address})
    receipt = c.transact(fn.closeRound(pool), c.admins["Harbin"])
    (closed,) = events(ra(c), "RoundClosed", receipt)
    assert (closed.args.totalRequested, closed.args.totalAllocated) == (10, 10)
    with reverts_with(RA, "NoOpenRound"):
        fn.closeRound(pool).transact(harbin)


def test_cancel_open_and_voting_rounds(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    harbin: TxParams = {"from": c.admins["Harbin"].address}
    pool = create_pool(c)
    with reverts_with(RA, "UnknownRound"):
        fn.cancelRound(pool).transact(harbin)
    open_round(c, pool, 100)
    with reverts_with(RA, "NotCoordinator"):
        fn.cancelRound(pool).transact({"from": c.admins["Daqing"].address})
    receipt = c.transact(fn.cancelRound(pool), c.admins["Harbin"])
    (cancelled,) = events(ra(c), "RoundCancelled", receipt)
    assert (cancelled.args.roundId, cancelled.args.previousStatus) == (1, OPEN)
    open_round(c, pool, 100)
    file(c, pool, "Daqing", 50)
    c.transact(fn.closeRound(pool), c.admins["Harbin"])
    c.transact(fn.cancelRound(pool), c.admins["Harbin"])
    assert [r[1] for r in fn.roundsOf(pool).call()] == [CANCELLED, CANCELLED]
    with reverts_with(RA, "RoundNotCancellable"):
        fn.cancelRound(pool).transact(harbin)
    with reverts_with(RA, "RoundNotVoting"):
        fn.approveRound(pool, 2).transact(harbin)
    assert fn.getPool(pool).call()[3] == 0


# ---------------------------------------------------------------- votes


def test_vote_refusals(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool = create_pool(c, members=["Harbin", "Jiamusi", "Daqing"])
    with reverts_with(RA, "UnknownRound"):
        fn.approveRound(pool, 1).transact({"from": c.admins["Harbin"].address})
    open_round(c, pool, 100)
    file(c, pool, "Jiamusi", 60)
    with reverts_with(RA, "RoundNotVoting"):
        fn.approveRound(pool, 1).transact({"from": c.admins["Harbin"].address})
    c.transact(fn.closeRound(pool), c.admins["Harbin"])
    with reverts_with(RA, "NotCityAdmin"):
        fn.approveRound(pool, 1).transact({"from": allocator(c, "Jiamusi").address})
    with reverts_with(RA, "NotPoolMember"):
        fn.approveRound(pool, 1).transact({"from": c.admins["Qiqihar"].address})
    with reverts_with(RA, "UnknownRound"):
        fn.approveRound(pool, 2).transact({"from": c.admins["Harbin"].address})
    with reverts_with(RA, "UnknownPool"):
        fn.rejectRound(pool + 1, 1).transact({"from": c.admins["Harbin"].address})
    receipt = c.transact(fn.approveRound(pool, 1), c.admins["Jiamusi"])
    (voted,) = events(ra(c), "RoundVoted", receipt)
    assert (voted.args.cityId, voted.args.approve, voted.args.approvals) == (
        city_id("Jiamusi"),
        True,
        1,
    )
    assert fn.hasVoted(pool, 1, city_id("Jiamusi")).call()
    with reverts_with(RA, "AlreadyVoted"):
        fn.rejectRound(pool, 1).transact({"from": c.admins["Jiamusi"].address})
    c.transact(fn.approveRound(pool, 1), c.admins["Harbin"])
    assert round_status(c, pool, 1) == VOTING  # 2 of 3 is not more than two thirds
    c.transact(fn.approveRound(pool, 1), c.admins["Daqing"])
    assert round_status(c, pool, 1) == APPROVED


def test_rejection_once_approval_is_out_of_reach(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool, round_id = voting_round(c, {"Jiamusi": 70_000, "Daqing": 50_000})
    c.transact(fn.approveRound(pool, round_id), c.admins["Harbin"])
    c.transact(fn.rejectRound(pool, round_id), c.admins["Jiamusi"])
    assert round_status(c, pool, round_id) == VOTING
    receipt = c.transact(fn.rejectRound(pool, round_id), c.admins["Qiqihar"])
    (rejected,) = events(ra(c), "RoundRejected", receipt)
    assert rejected.args.rejections == 2
    assert round_status(c, pool, round_id) == REJECTED
    assert fn.getPool(pool).call()[3] == 0
    with reverts_with(RA, "RoundNotVoting"):
        fn.approveRound(pool, round_id).transact({"from": c.admins["Daqing"].address})
    with reverts_with(RA, "RoundNotApproved"):
        fn.confirmReceipt(pool, round_id, 1).transact({"from": c.admins["Daqing"].address})
    assert open_round(c, pool, 100_000) == 2  # a rejected round frees the pool


# ---------------------------------------------------------------- confirmReceipt


def test_confirm_receipt_refusals(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool, round_id = voting_round(c, {"Jiamusi": 70_000, "Daqing": 50_000})
    with reverts_with(RA, "RoundNotApproved"):
        fn.confirmReceipt(pool, round_id, 1).transact({"from": allocator(c, "Jiamusi").address})
    for city in CITIES[:4]:
        c.transact(fn.approveRound(pool, round_id), c.admins[city])
    with reverts_with(RA, "NotAllocator"):
        fn.confirmReceipt(pool, round_id, 1).transact({"from": c.agencies["jiamusi.bdc"].address})
    with reverts_with(RA, "NothingAllocated"):  # Harbin filed no request
        fn.confirmReceipt(pool, round_id, 1).transact({"from": c.admins["Harbin"].address})
    with reverts_with(RA, "UnknownRound"):
        fn.confirmReceipt(pool, round_id + 1, 1).transact({"from": c.admins["Jiamusi"].address})
    with reverts_with(RA, "UnknownPool"):
        fn.confirmReceipt(pool + 1, round_id, 1).transact({"from": c.admins["Jiamusi"].address})
    c.transact(fn.confirmReceipt(pool, round_id, 0), allocator(c, "Jiamusi"))
    assert fn.hasConfirmedReceipt(pool, round_id, city_id("Jiamusi")).call()
    with reverts_with(RA, "ReceiptAlreadyConfirmed"):
        fn.confirmReceipt(pool, round_id, 1).transact({"from": c.admins["Jiamusi"].address})


def test_zero_allocation_has_nothing_to_confirm(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    pool = create_pool(c)
    round_id = open_round(c, pool, 1, PROPORTIONAL)
    file(c, pool, "Jiamusi", 5)
    file(c, pool, "Daqing", 5)
    c.transact(fn.closeRound(pool), c.admins["Harbin"])
    assert fn.allocationsOf(pool, round_id).call()[1] == [1, 0]
    for city in CITIES[:4]:
        c.transact(fn.approveRound(pool, round_id), c.admins[city])
    with reverts_with(RA, "NothingAllocated"):
        fn.confirmReceipt(pool, round_id, 0).transact({"from": allocator(c, "Daqing").address})


# ---------------------------------------------------------------- views of unknown things


def test_views_refuse_unknown_pools_and_rounds(consortium: TestConsortium) -> None:
    fn = ra(consortium).functions
    with reverts_with(RA, "UnknownPool"):
        fn.getPool(0).call()
    with reverts_with(RA, "UnknownPool"):
        fn.roundsOf(1).call()
    pool = create_pool(consortium)
    assert fn.roundsOf(pool).call() == []
    for view in (fn.getRound, fn.requestsOf, fn.allocationsOf, fn.receiptsOf):
        with reverts_with(RA, "UnknownRound"):
            view(pool, 1).call()


# ---------------------------------------------------------------- the rule, on chain vs Python


def test_compute_allocation_refusals(consortium: TestConsortium) -> None:
    fn = ra(consortium).functions
    with reverts_with(RA, "LengthMismatch"):
        fn.computeAllocation(PROPORTIONAL, 10, [1, 2], [1]).call()
    with reverts_with(RA, "ZeroAmount"):
        fn.computeAllocation(PROPORTIONAL, 10, [1, 0], [1, 1]).call()
    with reverts_with(RA, "InvalidPriority"):
        fn.computeAllocation(MAX_MIN_FAIR, 10, [1, 2], [1, 9]).call()
    with reverts_with(RA, "AmountTooLarge"):
        fn.computeAllocation(MAX_MIN_FAIR, MAX_AMOUNT + 1, [1], [1]).call()
    assert fn.computeAllocation(MAX_MIN_FAIR, 10, [], []).call() == []


amount_st = st.one_of(
    st.integers(min_value=1, max_value=1_000),
    st.integers(min_value=1, max_value=MAX_AMOUNT),
)


@st.composite
def rule_inputs(draw: st.DrawFn) -> tuple[AllocationRule, int, list[int], list[int]]:
    amounts = draw(st.lists(amount_st, min_size=1, max_size=24))
    priorities = draw(st.lists(st.integers(1, 5), min_size=len(amounts), max_size=len(amounts)))
    total = sum(amounts)
    available = draw(st.one_of(st.integers(0, min(total, MAX_AMOUNT)), st.integers(0, MAX_AMOUNT)))
    return draw(st.sampled_from(list(AllocationRule))), available, amounts, priorities


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=rule_inputs())
def test_solidity_rule_equals_python_rule(
    consortium: TestConsortium, case: tuple[AllocationRule, int, list[int], list[int]]
) -> None:
    rule, available, amounts, priorities = case
    on_chain = (
        ra(consortium).functions.computeAllocation(int(rule), available, amounts, priorities).call()
    )
    requests = [AllocationRequest(a, p) for a, p in zip(amounts, priorities, strict=True)]
    assert on_chain == allocate(rule, available, requests)


# ---------------------------------------------------------------- a pool of ten cities


NEW_CITIES = ("Suihua", "Heihe", "Yichun", "Hegang", "Shuangyashan")


def admit_cities(c: TestConsortium, names: Sequence[str]) -> dict[str, LocalAccount]:
    """Admits cities by governance (spare accounts as admins and validators); returns every
    member city's admin, the new ones included."""
    con = c.consortium.functions
    admins = dict(c.admins)
    for i, name in enumerate(names):
        admin, validator = c.spare[2 * i], c.spare[2 * i + 1]
        region = text32("Heilongjiang")
        c.transact(
            con.proposeAdmitCity(name, admin.address, validator.address, region), admins["Harbin"]
        )
        proposal = int(con.proposalCount().call())
        voters = iter(x for x in admins if x != "Harbin")
        while not con.isActiveCity(city_id(name)).call():
            c.transact(con.vote(proposal), admins[next(voters)])
        admins[name] = admin
    return admins


def test_ten_city_round_follows_the_rule_and_the_quorum(consortium: TestConsortium) -> None:
    c, fn = consortium, ra(consortium).functions
    admins = admit_cities(c, NEW_CITIES)
    members = list(CITIES + NEW_CITIES)
    pool = create_pool(c, members=members, capacity=50_000)
    round_id = open_round(c, pool, 50_000, PRIORITY_WEIGHTED)
    asks = [(city, 1_000 * (i + 3), 1 + i % 5) for i, city in enumerate(members)]
    for city, amount, priority in asks:
        c.transact(fn.fileRequest(pool, amount, priority, justification(city)), admins[city])
    c.transact(fn.closeRound(pool), admins["Harbin"])
    expected = allocate(
        AllocationRule.PRIORITY_WEIGHTED, 50_000, [AllocationRequest(a, p) for _, a, p in asks]
    )
    assert fn.allocationsOf(pool, round_id).call()[1] == expected
    for city in members[:6]:
        c.transact(fn.approveRound(pool, round_id), admins[city])
    assert round_status(c, pool, round_id) == VOTING  # 6 of 10 is not more than two thirds
    c.transact(fn.approveRound(pool, round_id), admins[members[6]])
    assert round_status(c, pool, round_id) == APPROVED
