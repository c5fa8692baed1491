"""Random sequences of offer / accept / withdraw / revoke / suspend (by an auditor, or by
LeakRegistry for an incident) / reinstate / access / replay and clock moves against DataGrants
and AccessLog, checked step by step against a Python model.

Every transaction is sent with a fixed gas limit, so a refused one is mined too (status 0) and
chain time moves by exactly one second per block (eth-tester mines each block one second after
its parent): the model knows the timestamp every transaction runs at. Invariants after every
step: statusOf matches the model; accesses used never exceed the quota; the AccessRecorded
events of each grant are exactly the accesses the model allowed (and the grant's on-chain count
after each access attempt), so an inactive grant never logged one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from chain_helpers import TestConsortium
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from grant_helpers import GrantDesk, GrantStatus, Offer
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

GRANTOR = "mudanjiang.bdc"
GRANTEES = ("harbin.health", "qiqihar.bdc")
OUTSIDER = "daqing.health"
GAS = 1_000_000
LIVE = (GrantStatus.ACCEPTED, GrantStatus.ACTIVE)
# Every step checks every grant with an eth_call (~10 ms each on eth-tester): a few grants per
# run keep the machine quick while still letting grants interleave.
MAX_GRANTS = 5


@dataclass
class ModelGrant:
    """What the contract should hold for one grant."""

    offer: Offer
    grantee: LocalAccount
    stored: GrantStatus
    used: int = 0

    def status(self, now: int) -> GrantStatus:
        if self.stored in (GrantStatus.REVOKED, GrantStatus.WITHDRAWN):
            return self.stored
        if now >= self.offer.validUntil:
            return GrantStatus.EXPIRED
        if self.stored == GrantStatus.ACCEPTED and now >= self.offer.validFrom:
            return GrantStatus.ACTIVE
        return self.stored


class GrantLifeCycle(RuleBasedStateMachine):
    consortium: ClassVar[TestConsortium]
    grants = Bundle("grants")

    def __init__(self) -> None:
        super().__init__()
        self.c = self.consortium
        self.snapshot = self.c.w3.testing.snapshot()  # type: ignore[attr-defined]
        self.desk = GrantDesk(self.c)
        self.grantor = self.desk.agency(GRANTOR)
        self.auditor = self.desk.agency("audit")
        self.model: dict[bytes, ModelGrant] = {}
        self.logged: Counter[bytes] = Counter()

    def teardown(self) -> None:
        self.c.w3.testing.revert(self.snapshot)  # type: ignore[attr-defined]

    def send(self, call: ContractFunction, sender: LocalAccount) -> bool:
        """Mines the transaction whatever happens, and collects the accesses it logged; True if
        it succeeded. The outcomes show in --hypothesis-show-statistics."""
        tx_hash = call.transact({"from": sender.address, "gas": GAS})
        receipt = self.c.w3.eth.wait_for_transaction_receipt(tx_hash)
        for logged in self.desk.log.events.AccessRecorded().process_receipt(
            receipt, errors=DISCARD
        ):
            self.logged[logged["args"]["grantId"]] += 1
        succeeded = bool(receipt["status"] == 1)
        event(f"{call.fn_name}: {'done' if succeeded else 'refused'}")
        return succeeded

    def next_time(self) -> int:
        return self.c.now() + 1

    @initialize()
    def register_dataset(self) -> None:
        self.dataset = self.desk.register_dataset(
            self.grantor, "mudanjiang/ferry-manifests", field_count=6
        )

    @precondition(lambda self: len(self.model) < MAX_GRANTS)
    @rule(
        target=grants,
        grantee=st.sampled_from(GRANTEES),
        starts_in=st.sampled_from([0, 0, 0, 30]),
        lasts=st.sampled_from([40, 200, 1000]),
        quota=st.integers(1, 3),
        scope=st.integers(1, 0b111111),
        both_signatures=st.sampled_from([True, True, False]),
    )
    def offer(
        self,
        grantee: str,
        starts_in: int,
        lasts: int,
        quota: int,
        scope: int,
        both_signatures: bool,
    ) -> bytes:
        party = self.desk.agency(grantee)
        offer = self.desk.make_offer(
            self.dataset,
            self.grantor,
            party,
            scope=scope,
            starts_in=starts_in,
            lasts=lasts,
            quota=quota,
        )
        grant_id = self.desk.grant_id(offer)
        fn = self.desk.grants.functions
        if both_signatures:
            call = fn.submitGrant(
                offer.as_tuple(),
                self.desk.sign_offer(offer, self.grantor),
                self.desk.sign_acceptance(grant_id, party),
            )
        else:
            call = fn.offerGrant(offer.as_tuple(), self.desk.sign_offer(offer, self.grantor))
        assert self.send(call, self.auditor)
        stored = GrantStatus.ACCEPTED if both_signatures else GrantStatus.OFFERED
        self.model[grant_id] = ModelGrant(offer, party, stored)
        return grant_id

    @rule(grant_id=grants)
    def replay_offer(self, grant_id: bytes) -> None:
        offer = self.model[grant_id].offer
        call = self.desk.grants.functions.offerGrant(
            offer.as_tuple(), self.desk.sign_offer(offer, self.grantor)
        )
        assert not self.send(call, self.grantor)

    @rule(grant_id=grants)
    def accept(self, grant_id: bytes) -> None:
        g = self.model[grant_id]
        expected = g.status(self.next_time()) == GrantStatus.OFFERED
        signature = self.desk.sign_acceptance(grant_id, g.grantee)
        assert (
            self.send(self.desk.grants.functions.acceptGrant(grant_id, signature), self.grantor)
            is expected
        )
        if expected:
            g.stored = GrantStatus.ACCEPTED

    @rule(grant_id=grants)
    def withdraw(self, grant_id: bytes) -> None:
        g = self.model[grant_id]
        expected = g.status(self.next_time()) == GrantStatus.OFFERED
        assert (
            self.send(self.desk.grants.functions.withdrawOffer(grant_id), self.grantor) is expected
        )
        if expected:
            g.stored = GrantStatus.WITHDRAWN

    @rule(grant_id=grants)
    def revoke(self, grant_id: bytes) -> None:
        g = self.model[grant_id]
        expected = g.status(self.next_time()) in (*LIVE, GrantStatus.SUSPENDED)
        assert (
            self.send(self.desk.grants.functions.revoke(grant_id, b"\0" * 32), self.grantor)
            is expected
        )
        if expected:
            g.stored = GrantStatus.REVOKED

    @rule(grant_id=grants)
    def suspend(self, grant_id: bytes) -> None:
        g = self.model[grant_id]
        expected = g.status(self.next_time()) in LIVE
        assert (
            self.send(self.desk.grants.functions.suspend(grant_id, b"\1" * 32), self.auditor)
            is expected
        )
        if expected:
            g.stored = GrantStatus.SUSPENDED

    @rule(grant_id=grants)
    def suspend_for_incident(self, grant_id: bytes) -> None:
        """An auditor reports a leak and LeakRegistry suspends the grant through DataGrants."""
        leaks = self.c.contracts["LeakRegistry"]
        report = leaks.functions.reportIncident(self.dataset, keccak(grant_id))
        assert self.send(report, self.auditor)
        incident = leaks.functions.incidentCount().call()
        g = self.model[grant_id]
        expected = g.status(self.next_time()) in (*LIVE, GrantStatus.SUSPENDED)
        call = leaks.functions.suspendImplicatedGrants(incident, [grant_id])
        assert self.send(call, self.auditor) is expected
        if expected:
            g.stored = GrantStatus.SUSPENDED

    @rule(grant_id=grants)
    def reinstate(self, grant_id: bytes) -> None:
        g = self.model[grant_id]
        expected = g.status(self.next_time()) == GrantStatus.SUSPENDED
        assert (
            self.send(self.desk.grants.functions.reinstate(grant_id, b"\2" * 32), self.auditor)
            is expected
        )
        if expected:
            g.stored = GrantStatus.ACCEPTED

    @precondition(lambda self: self.model)
    @rule(mask=st.integers(1, 0b111111))
    def access_newest_within_scope(self, mask: int) -> None:
        """The grantee of the newest grant (the likeliest to be active) reads fields its grant
        covers: refused only for status or quota."""
        grant_id = next(reversed(self.model))
        g = self.model[grant_id]
        self._access(grant_id, g.grantee, mask & g.offer.fieldScope or g.offer.fieldScope)

    @rule(grant_id=grants, by_grantee=st.booleans(), fields=st.integers(0, 0b1111111))
    def access_anything(self, grant_id: bytes, by_grantee: bool, fields: int) -> None:
        g = self.model[grant_id]
        self._access(grant_id, g.grantee if by_grantee else self.desk.agency(OUTSIDER), fields)

    def _access(self, grant_id: bytes, accessor: LocalAccount, fields: int) -> None:
        g = self.model[grant_id]
        expected = (
            accessor == g.grantee
            and g.status(self.next_time()) == GrantStatus.ACTIVE
            and fields != 0
            and fields & ~g.offer.fieldScope == 0
            and g.used < g.offer.accessQuota
        )
        call = self.desk.log.functions.recordAccess(grant_id, keccak(text=f"q{fields}"), 3, fields)
        assert self.send(call, accessor) is expected
        if expected:
            g.used += 1
        assert self.desk.grants.functions.getGrant(grant_id).call()[6] == g.used

    @rule(seconds=st.integers(1, 90))
    def let_time_pass(self, seconds: int) -> None:
        self.c.time_travel(seconds)

    @invariant()
    def statuses_match_the_model(self) -> None:
        now = self.c.now()
        for grant_id, g in self.model.items():
            assert self.desk.status(grant_id) == g.status(now)

    @invariant()
    def accesses_are_exactly_the_allowed_ones(self) -> None:
        for grant_id, g in self.model.items():
            assert self.logged[grant_id] == g.used <= g.offer.accessQuota


def test_grant_life_cycle(consortium: TestConsortium) -> None:
    GrantLifeCycle.consortium = consortium
    run_state_machine_as_test(
        GrantLifeCycle, settings=settings(max_examples=15, stateful_step_count=25, deadline=None)
    )
