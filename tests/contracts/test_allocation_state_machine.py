"""ResourceAllocation as a hypothesis state machine: random pools, rounds, requests, votes,
cancellations and receipts against a plain Python model, with the invariants checked after
every step: allocated never exceeds capacity, each computed round's allocation is what the
Python rule (cityledger.sdk.allocation) gives for its requests, no city gets more than it asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from chain_helpers import CITIES, TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from web3.contract.contract import ContractFunction
from web3.types import TxParams

from cityledger.contracts.deployment import city_id, text32
from cityledger.sdk.allocation import AllocationRequest, AllocationRule, allocate

RA = "ResourceAllocation"
OPEN, VOTING, APPROVED, REJECTED, CANCELLED = 1, 2, 3, 4, 5

city_st = st.sampled_from(CITIES)
pick_st = st.integers(min_value=0, max_value=10_000)


@dataclass
class RoundModel:
    rule: AllocationRule
    amount: int
    status: int = OPEN
    requests: list[tuple[str, int, int]] = field(default_factory=list)
    allocation: list[int] | None = None
    votes: dict[str, bool] = field(default_factory=dict)
    receipts: set[str] = field(default_factory=set)

    def allocated_to(self, city: str) -> int:
        if self.allocation is None:
            return 0
        for (requester, _, _), amount in zip(self.requests, self.allocation, strict=True):
            if requester == city:
                return amount
        return 0


@dataclass
class PoolModel:
    coordinator: str
    members: list[str]
    capacity: int
    allocated: int = 0
    rounds: list[RoundModel] = field(default_factory=list)

    def current(self) -> RoundModel | None:
        return self.rounds[-1] if self.rounds else None

    def busy(self) -> bool:
        current = self.current()
        return current is not None and current.status in (OPEN, VOTING)


class AllocationMachine(RuleBasedStateMachine):
    def __init__(self, consortium: TestConsortium, tester: EthereumTester) -> None:
        super().__init__()
        self.c = consortium
        self.ra = consortium.contracts[RA]
        self.tester = tester
        self.snapshot = tester.take_snapshot()
        self.pools: list[PoolModel] = []
        # an explicit sender spares web3 a guess (an eth_accounts round trip) on every eth_call
        self.reader: TxParams = {"from": consortium.admins["Harbin"].address}

    def teardown(self) -> None:
        self.tester.revert_to_snapshot(self.snapshot)

    # ------------------------------------------------------------ helpers

    def expect(self, error: str | None, call: ContractFunction, sender: LocalAccount) -> None:
        if error is None:
            self.c.transact(call, sender)
        else:
            with reverts_with(RA, error):
                call.transact({"from": sender.address})

    def pool(self, pick: int) -> tuple[int, PoolModel]:
        index = pick % len(self.pools)
        return index + 1, self.pools[index]

    def allocator(self, city: str, as_admin: bool) -> LocalAccount:
        return self.c.admins[city] if as_admin else self.c.agencies[f"{city.lower()}.emergency"]

    # ------------------------------------------------------------ rules

    @initialize(coordinator=city_st, others=st.sets(city_st), capacity=st.integers(1, 10_000))
    def first_pool(self, coordinator: str, others: set[str], capacity: int) -> None:
        self.create_pool(coordinator, others, capacity)

    @rule(coordinator=city_st, others=st.sets(city_st), capacity=st.integers(1, 10_000))
    def create_pool(self, coordinator: str, others: set[str], capacity: int) -> None:
        members = [coordinator, *sorted(others - {coordinator})]
        call = self.ra.functions.createPool(
            text32("icu-beds"), text32("bed"), capacity, [city_id(m) for m in members], 0
        )
        self.expect(None, call, self.c.admins[coordinator])
        self.pools.append(PoolModel(coordinator, members, capacity))

    @rule(
        pick=pick_st,
        caller=city_st,
        rule_=st.sampled_from(list(AllocationRule)),
        amount=st.integers(0, 10_500),
    )
    def open_round(self, pick: int, caller: str, rule_: AllocationRule, amount: int) -> None:
        pool_id, pool = self.pool(pick)
        if caller != pool.coordinator:
            error: str | None = "NotCoordinator"
        elif pool.busy():
            error = "RoundInProgress"
        elif amount == 0:
            error = "ZeroAmount"
        elif amount > pool.capacity - pool.allocated:
            error = "AmountExceedsRemaining"
        else:
            error = None
        self.expect(
            error, self.ra.functions.openRound(pool_id, int(rule_), amount), self.c.admins[caller]
        )
        if error is None:
            pool.rounds.append(RoundModel(rule_, amount))

    @rule(
        pick=pick_st,
        city=city_st,
        as_admin=st.booleans(),
        amount=st.integers(1, 6_000),
        priority=st.integers(1, 5),
    )
    def file_request(
        self, pick: int, city: str, as_admin: bool, amount: int, priority: int
    ) -> None:
        pool_id, pool = self.pool(pick)
        current = pool.current()
        if city not in pool.members:
            error: str | None = "NotPoolMember"
        elif current is None or current.status != OPEN:
            error = "NoOpenRound"
        elif any(requester == city for requester, _, _ in current.requests):
            error = "RequestAlreadyFiled"
        else:
            error = None
        call = self.ra.functions.fileRequest(
            pool_id, amount, priority, keccak(text=f"{city} needs")
        )
        self.expect(error, call, self.allocator(city, as_admin))
        if error is None and current is not None:
            current.requests.append((city, amount, priority))

    @rule(pick=pick_st, caller=city_st)
    def close_round(self, pick: int, caller: str) -> None:
        pool_id, pool = self.pool(pick)
        current = pool.current()
        if caller != pool.coordinator:
            error: str | None = "NotCoordinator"
        elif current is None or current.status != OPEN:
            error = "NoOpenRound"
        elif not current.requests:
            error = "NoRequests"
        else:
            error = None
        self.expect(error, self.ra.functions.closeRound(pool_id), self.c.admins[caller])
        if error is None and current is not None:
            current.status = VOTING
            current.allocation = allocate(
                current.rule,
                current.amount,
                [AllocationRequest(a, p) for _, a, p in current.requests],
            )

    @rule(pick=pick_st, caller=city_st)
    def cancel_round(self, pick: int, caller: str) -> None:
        pool_id, pool = self.pool(pick)
        current = pool.current()
        if caller != pool.coordinator:
            error: str | None = "NotCoordinator"
        elif current is None:
            error = "UnknownRound"
        elif current.status not in (OPEN, VOTING):
            error = "RoundNotCancellable"
        else:
            error = None
        self.expect(error, self.ra.functions.cancelRound(pool_id), self.c.admins[caller])
        if error is None and current is not None:
            current.status = CANCELLED

    @precondition(lambda self: any(p.rounds for p in self.pools))
    @rule(pick=pick_st, round_pick=pick_st, city=city_st, approve=st.booleans())
    def vote(self, pick: int, round_pick: int, city: str, approve: bool) -> None:
        pool_id, pool = self.pool(pick)
        if not pool.rounds:
            return
        round_index = round_pick % len(pool.rounds)
        model = pool.rounds[round_index]
        if city not in pool.members:
            error: str | None = "NotPoolMember"
        elif model.status != VOTING:
            error = "RoundNotVoting"
        elif city in model.votes:
            error = "AlreadyVoted"
        else:
            error = None
        call = (self.ra.functions.approveRound if approve else self.ra.functions.rejectRound)(
            pool_id, round_index + 1
        )
        self.expect(error, call, self.c.admins[city])
        if error is not None or model.allocation is None:
            return
        model.votes[city] = approve
        members = len(pool.members)
        approvals = sum(model.votes.values())
        rejections = len(model.votes) - approvals
        if approvals * 3 > members * 2:
            model.status = APPROVED
            pool.allocated += sum(model.allocation)
        elif rejections * 3 >= members:
            model.status = REJECTED

    @precondition(lambda self: any(p.rounds for p in self.pools))
    @rule(
        pick=pick_st,
        round_pick=pick_st,
        city=city_st,
        as_admin=st.booleans(),
        received=st.integers(0, 6_000),
    )
    def confirm_receipt(
        self, pick: int, round_pick: int, city: str, as_admin: bool, received: int
    ) -> None:
        pool_id, pool = self.pool(pick)
        if not pool.rounds:
            return
        round_index = round_pick % len(pool.rounds)
        model = pool.rounds[round_index]
        if model.status != APPROVED:
            error: str | None = "RoundNotApproved"
        elif model.allocated_to(city) == 0:
            error = "NothingAllocated"
        elif city in model.receipts:
            error = "ReceiptAlreadyConfirmed"
        else:
            error = None
        call = self.ra.functions.confirmReceipt(pool_id, round_index + 1, received)
        self.expect(error, call, self.allocator(city, as_admin))
        if error is None:
            model.receipts.add(city)

    # ------------------------------------------------------------ invariants

    @invariant()
    def allocated_never_exceeds_capacity(self) -> None:
        for pool_id, pool in enumerate(self.pools, start=1):
            on_chain = self.ra.functions.getPool(pool_id).call(self.reader)
            assert on_chain[3] == pool.allocated <= on_chain[2] == pool.capacity

    @invariant()
    def rounds_match_the_python_rule(self) -> None:
        for pool_id, pool in enumerate(self.pools, start=1):
            rounds = self.ra.functions.roundsOf(pool_id).call(self.reader)
            assert [r[1] for r in rounds] == [m.status for m in pool.rounds]
            current = pool.current()
            if current is None or current.allocation is None:
                continue
            round_id = len(pool.rounds)
            requests = self.ra.functions.requestsOf(pool_id, round_id).call(self.reader)
            asked = [AllocationRequest(r[3], r[5]) for r in requests]  # amount, priority
            cities, allocation = self.ra.functions.allocationsOf(pool_id, round_id).call(
                self.reader
            )
            assert allocation == allocate(current.rule, current.amount, asked) == current.allocation
            assert cities == [city_id(city) for city, _, _ in current.requests]
            assert all(a <= r.amount for a, r in zip(allocation, asked, strict=True))
            assert sum(allocation) == min(current.amount, sum(r.amount for r in asked))


def test_allocation_state_machine(_deployed: tuple[TestConsortium, EthereumTester]) -> None:
    consortium, tester = _deployed

    class Machine(AllocationMachine):
        def __init__(self) -> None:
            super().__init__(consortium, tester)

    Machine.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    Machine.TestCase().runTest()
