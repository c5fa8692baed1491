"""DataGrants: the dataset registry, grants signed offline as EIP-712 typed data by both
agencies, their life cycle, and every refusal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from chain_helpers import TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from grant_helpers import (
    Domain,
    GrantDesk,
    GrantStatus,
    Offer,
    Sensitivity,
    acceptance_message,
    digest,
    high_s_twin,
)
from web3.logs import DISCARD

DATASET_NAME = "jiamusi/epidemic-travel-trace"


@dataclass
class Scene:
    """A Jiamusi dataset, its owner, a Harbin grantee, the auditor and a bystander who submits."""

    desk: GrantDesk
    dataset: bytes
    grantor: LocalAccount
    grantee: LocalAccount
    auditor: LocalAccount
    relayer: LocalAccount

    def offer(self, **terms: int) -> Offer:
        return self.desk.make_offer(self.dataset, self.grantor, self.grantee, **terms)

    def offered(self, **terms: int) -> bytes:
        return self.desk.offer(self.offer(**terms), self.grantor, self.relayer)[0]

    def active(self, **terms: int) -> bytes:
        return self.desk.submit(self.offer(**terms), self.grantor, self.grantee, self.relayer)


@pytest.fixture
def scene(consortium: TestConsortium) -> Scene:
    desk = GrantDesk(consortium)
    grantor = desk.agency("jiamusi.bdc")
    return Scene(
        desk=desk,
        dataset=desk.register_dataset(grantor, DATASET_NAME),
        grantor=grantor,
        grantee=desk.agency("harbin.health"),
        auditor=desk.agency("audit"),
        relayer=consortium.spare[0],
    )


def _events(scene: Scene, name: str, receipt: object) -> list[dict[str, object]]:
    event = getattr(scene.desk.grants.events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


# ------------------------------------------------------------------ datasets


def test_register_dataset_records_owner_city_and_schema(consortium: TestConsortium) -> None:
    desk = GrantDesk(consortium)
    owner = desk.agency("daqing.bdc")
    name = "daqing/bus-card-taps"
    receipt = desk.c.transact(
        desk.grants.functions.registerDataset(
            keccak(text=name), name, keccak(text="schema"), Sensitivity.RESTRICTED, 256
        ),
        owner,
    )
    dataset = desk.grants.functions.getDataset(keccak(text=name)).call()
    assert dataset == (
        owner.address,
        256,
        Sensitivity.RESTRICTED,
        dataset[3],
        consortium.city_id("Daqing"),
        keccak(text="schema"),
    )
    event = desk.grants.events.DatasetRegistered().process_receipt(receipt)[0]["args"]
    assert (event["datasetId"], event["owner"], event["cityId"], event["name"]) == (
        keccak(text=name),
        owner.address,
        consortium.city_id("Daqing"),
        name,
    )
    assert desk.grants.functions.datasetCount().call() == 1
    assert desk.grants.functions.datasetIds(0, 10).call() == [[keccak(text=name)], 1]


@pytest.mark.parametrize("key", ["harbin.health", "harbin.emergency", "audit"])
def test_register_dataset_needs_grantor_role(consortium: TestConsortium, key: str) -> None:
    desk = GrantDesk(consortium)
    with reverts_with("DataGrants", "MissingRole"):
        desk.register_dataset(desk.agency(key), "harbin/hospital-beds")


def test_register_dataset_refuses_an_account_that_is_no_agency(consortium: TestConsortium) -> None:
    desk = GrantDesk(consortium)
    with reverts_with("DataGrants", "MissingRole"):
        desk.register_dataset(consortium.spare[1], "nobody/anything")


def test_register_dataset_refuses_bad_ids_and_field_counts(scene: Scene) -> None:
    desk, owner = scene.desk, scene.grantor
    register = desk.grants.functions.registerDataset
    with reverts_with("DataGrants", "ZeroDatasetId"):
        desk.c.transact(register(b"\0" * 32, "x", b"\1" * 32, 0, 4), owner)
    with reverts_with("DataGrants", "DatasetExists"):
        desk.register_dataset(desk.agency("harbin.bdc"), DATASET_NAME)
    for count in (0, 257):
        with reverts_with("DataGrants", "InvalidFieldCount"):
            desk.c.transact(register(keccak(text=f"c{count}"), "x", b"\1" * 32, 0, count), owner)


def test_get_dataset_of_unknown_id_reverts(scene: Scene) -> None:
    with reverts_with("DataGrants", "UnknownDataset"):
        scene.desk.grants.functions.getDataset(keccak(text="nope")).call()


# ------------------------------------------------------------------ offer, accept, submit


def test_offer_then_accept_by_a_third_party(scene: Scene) -> None:
    desk = scene.desk
    offer = scene.offer(starts_in=100, lasts=1000)
    grant_id, receipt = desk.offer(offer, scene.grantor, scene.relayer)

    assert grant_id == desk.grants.functions.hashOffer(offer.as_tuple()).call()
    assert desk.status(grant_id) == GrantStatus.OFFERED
    (offered,) = _events(scene, "GrantOffered", receipt)
    assert offered["grantId"] == grant_id
    assert offered["grantor"] == scene.grantor.address
    assert dict(offered["offer"]) == offer.message()  # type: ignore[call-overload]

    receipt = desk.accept(grant_id, scene.grantee, scene.relayer)
    assert _events(scene, "GrantAccepted", receipt) == [
        {"grantId": grant_id, "datasetId": scene.dataset, "grantee": scene.grantee.address}
    ]
    assert desk.status(grant_id) == GrantStatus.ACCEPTED
    assert not desk.grants.functions.isGrantActive(grant_id).call()
    desk.c.time_travel(100)
    assert desk.status(grant_id) == GrantStatus.ACTIVE
    assert desk.grants.functions.isGrantActive(grant_id).call()
    desk.c.time_travel(1000)
    assert desk.status(grant_id) == GrantStatus.EXPIRED


def test_submit_grant_in_one_call(scene: Scene) -> None:
    grant_id = scene.active(scope=0b101, quota=7)
    desk = scene.desk
    assert desk.status(grant_id) == GrantStatus.ACTIVE
    grant = desk.grants.functions.getGrant(grant_id).call()
    assert grant[0] == scene.dataset
    assert (grant[1], grant[4]) == (scene.grantor.address, scene.grantee.address)
    assert (grant[3], grant[6], grant[9]) == (7, 0, 0b101)
    assert grant[11] == GrantStatus.ACCEPTED
    assert desk.grants.functions.datasetOf(grant_id).call() == scene.dataset
    assert desk.grants.functions.partiesOf(grant_id).call() == [
        scene.grantor.address,
        scene.grantee.address,
    ]


def test_grant_id_is_the_offline_eip712_digest(scene: Scene) -> None:
    offer = scene.offer()
    assert scene.desk.grants.functions.hashOffer(offer.as_tuple()).call() == scene.desk.grant_id(
        offer
    )
    grant_id = scene.desk.grant_id(offer)
    assert scene.desk.grants.functions.hashAcceptance(grant_id).call() == digest(
        acceptance_message(grant_id, scene.desk.domain)
    )


def test_replayed_offer_is_refused(scene: Scene) -> None:
    desk = scene.desk
    offer = scene.offer()
    signature = desk.sign_offer(offer, scene.grantor)
    desk.c.transact(desk.grants.functions.offerGrant(offer.as_tuple(), signature), scene.relayer)
    with reverts_with("DataGrants", "GrantExists"):
        desk.c.transact(
            desk.grants.functions.offerGrant(offer.as_tuple(), signature), scene.grantee
        )
    grant_id = desk.grant_id(offer)
    with reverts_with("DataGrants", "GrantExists"):
        desk.c.transact(
            desk.grants.functions.submitGrant(
                offer.as_tuple(), signature, desk.sign_acceptance(grant_id, scene.grantee)
            ),
            scene.relayer,
        )


def test_replayed_acceptance_is_refused(scene: Scene) -> None:
    grant_id = scene.offered()
    desk = scene.desk
    signature = desk.sign_acceptance(grant_id, scene.grantee)
    desk.c.transact(desk.grants.functions.acceptGrant(grant_id, signature), scene.relayer)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(desk.grants.functions.acceptGrant(grant_id, signature), scene.relayer)


def test_replayed_submission_is_refused(scene: Scene) -> None:
    offer = scene.offer()
    scene.desk.submit(offer, scene.grantor, scene.grantee, scene.relayer)
    with reverts_with("DataGrants", "GrantExists"):
        scene.desk.submit(offer, scene.grantor, scene.grantee, scene.grantor)


def test_a_different_salt_makes_a_distinct_grant(scene: Scene) -> None:
    offer = scene.offer()
    first = scene.desk.submit(offer, scene.grantor, scene.grantee, scene.relayer)
    second = scene.desk.submit(
        offer.replace(salt=b"\x99" * 32), scene.grantor, scene.grantee, scene.relayer
    )
    assert first != second
    assert scene.desk.grants.functions.grantsByDataset(scene.dataset, 0, 10).call() == [
        [first, second],
        2,
    ]


# ------------------------------------------------------------------ signatures


def _offer_with(scene: Scene, offer: Offer, signature: bytes, error: str) -> None:
    with reverts_with("DataGrants", error):
        scene.desk.c.transact(
            scene.desk.grants.functions.offerGrant(offer.as_tuple(), signature), scene.relayer
        )


def test_offer_signed_by_someone_else_is_refused(scene: Scene) -> None:
    offer = scene.offer()
    _offer_with(scene, offer, scene.desk.sign_offer(offer, scene.grantee), "WrongSigner")


def test_offer_signed_for_another_chain_id_is_refused(scene: Scene) -> None:
    offer = scene.offer()
    wrong = Domain(scene.desk.domain.chain_id + 1, scene.desk.domain.verifying_contract)
    _offer_with(scene, offer, scene.desk.sign_offer(offer, scene.grantor, wrong), "WrongSigner")


def test_offer_signed_for_another_contract_is_refused(scene: Scene) -> None:
    offer = scene.offer()
    wrong = Domain(scene.desk.domain.chain_id, scene.desk.log.address)
    _offer_with(scene, offer, scene.desk.sign_offer(offer, scene.grantor, wrong), "WrongSigner")


@pytest.mark.parametrize(
    "change",
    [
        {"fieldScope": 0b11111},
        {"accessQuota": 500},
        {"validUntil": 2**40},
        {"purposeHash": b"\x01" * 32},
    ],
)
def test_offer_altered_after_signing_is_refused(scene: Scene, change: dict[str, object]) -> None:
    offer = scene.offer()
    signature = scene.desk.sign_offer(offer, scene.grantor)
    _offer_with(scene, offer.replace(**change), signature, "WrongSigner")


def test_malformed_signatures_are_refused(scene: Scene) -> None:
    offer = scene.offer()
    signature = scene.desk.sign_offer(offer, scene.grantor)
    _offer_with(scene, offer, high_s_twin(signature), "BadSignatureS")
    _offer_with(scene, offer, signature[:64] + bytes([signature[64] - 27]), "BadSignatureV")
    _offer_with(scene, offer, signature[:64], "BadSignatureLength")
    _offer_with(scene, offer, signature + b"\0", "BadSignatureLength")
    _offer_with(scene, offer, b"\0" * 64 + b"\x1b", "WrongSigner")


def test_acceptance_signed_by_the_grantor_is_refused(scene: Scene) -> None:
    grant_id = scene.offered()
    desk = scene.desk
    with reverts_with("DataGrants", "WrongSigner"):
        desk.c.transact(
            desk.grants.functions.acceptGrant(
                grant_id, desk.sign_acceptance(grant_id, scene.grantor)
            ),
            scene.relayer,
        )


def test_acceptance_signed_for_another_chain_id_is_refused(scene: Scene) -> None:
    grant_id = scene.offered()
    desk = scene.desk
    wrong = Domain(desk.domain.chain_id + 1, desk.domain.verifying_contract)
    with reverts_with("DataGrants", "WrongSigner"):
        desk.c.transact(
            desk.grants.functions.acceptGrant(
                grant_id, desk.sign_acceptance(grant_id, scene.grantee, wrong)
            ),
            scene.relayer,
        )


def test_submit_with_a_bad_grantee_signature_is_refused(scene: Scene) -> None:
    desk = scene.desk
    offer = scene.offer()
    with reverts_with("DataGrants", "WrongSigner"):
        desk.c.transact(
            desk.grants.functions.submitGrant(
                offer.as_tuple(),
                desk.sign_offer(offer, scene.grantor),
                desk.sign_acceptance(desk.grant_id(offer), desk.agency("qiqihar.health")),
            ),
            scene.relayer,
        )
    assert desk.status(desk.grant_id(offer)) == GrantStatus.NONE


# ------------------------------------------------------------------ offer terms


def _refused_offer(scene: Scene, offer: Offer, signer: LocalAccount, error: str) -> None:
    _offer_with(scene, offer, scene.desk.sign_offer(offer, signer), error)


def test_offer_on_unknown_dataset(scene: Scene) -> None:
    _refused_offer(
        scene, scene.offer().replace(datasetId=keccak(text="nope")), scene.grantor, "UnknownDataset"
    )


def test_offer_by_an_agency_of_another_city_that_does_not_own_the_dataset(scene: Scene) -> None:
    harbin = scene.desk.agency("harbin.bdc")
    _refused_offer(scene, scene.offer().replace(grantor=harbin.address), harbin, "NotDatasetOwner")


def test_offer_by_an_owner_that_lost_the_grantor_role(scene: Scene) -> None:
    c = scene.desk.c
    c.transact(c.consortium.functions.setAgencyRoles(scene.grantor.address, 2), c.admins["Jiamusi"])
    _refused_offer(scene, scene.offer(), scene.grantor, "MissingRole")


@pytest.mark.parametrize("grantee_key", ["harbin.emergency", "audit"])
def test_offer_to_an_agency_without_grantee_role(scene: Scene, grantee_key: str) -> None:
    grantee = scene.desk.agency(grantee_key)
    _refused_offer(
        scene, scene.offer().replace(grantee=grantee.address), scene.grantor, "MissingRole"
    )


def test_offer_to_an_account_that_is_no_agency(scene: Scene) -> None:
    outsider = scene.desk.c.spare[2]
    _refused_offer(
        scene, scene.offer().replace(grantee=outsider.address), scene.grantor, "MissingRole"
    )


def test_offer_to_a_deactivated_agency(scene: Scene) -> None:
    c = scene.desk.c
    c.transact(c.consortium.functions.deactivateAgency(scene.grantee.address), c.admins["Harbin"])
    _refused_offer(scene, scene.offer(), scene.grantor, "MissingRole")


# Each case changes the signed offer in one way the contract must refuse.
TERM_CASES: dict[str, tuple[Callable[[Scene, Offer], dict[str, object]], str]] = {
    "self grant": (lambda s, o: {"grantee": s.grantor.address}, "SelfGrant"),
    "no purpose": (lambda s, o: {"purposeCode": b"\0" * 32}, "EmptyPurpose"),
    "no fields": (lambda s, o: {"fieldScope": 0}, "EmptyFieldScope"),
    "field 17 of 16": (lambda s, o: {"fieldScope": 1 << 16}, "FieldScopeTooWide"),
    "zero quota": (lambda s, o: {"accessQuota": 0}, "ZeroQuota"),
    "empty validity": (lambda s, o: {"validFrom": o.validUntil}, "InvalidValidity"),
    "already over": (
        lambda s, o: {"validFrom": s.desk.c.now() - 100, "validUntil": s.desk.c.now() - 1},
        "OfferExpired",
    ),
}


@pytest.mark.parametrize("case", TERM_CASES)
def test_offer_terms_are_checked(scene: Scene, case: str) -> None:
    change, error = TERM_CASES[case]
    offer = scene.offer()
    _refused_offer(scene, offer.replace(**change(scene, offer)), scene.grantor, error)


def test_full_field_scope_on_a_256_field_dataset(scene: Scene) -> None:
    desk = scene.desk
    wide = desk.register_dataset(scene.grantor, "jiamusi/census-wide", field_count=256)
    offer = desk.make_offer(wide, scene.grantor, scene.grantee, scope=2**256 - 1)
    grant_id = desk.submit(offer, scene.grantor, scene.grantee, scene.relayer)
    assert desk.status(grant_id) == GrantStatus.ACTIVE


# ------------------------------------------------------------------ acceptance refusals


def test_accept_unknown_grant(scene: Scene) -> None:
    desk = scene.desk
    with reverts_with("DataGrants", "UnknownGrant"):
        desk.accept(b"\x42" * 32, scene.grantee, scene.relayer)


def test_accept_an_expired_offer(scene: Scene) -> None:
    grant_id = scene.offered(lasts=50)
    scene.desk.c.time_travel(60)
    assert scene.desk.status(grant_id) == GrantStatus.EXPIRED
    with reverts_with("DataGrants", "WrongStatus"):
        scene.desk.accept(grant_id, scene.grantee, scene.relayer)


def test_accept_after_the_grantee_lost_its_role(scene: Scene) -> None:
    grant_id = scene.offered()
    c = scene.desk.c
    c.transact(c.consortium.functions.setAgencyRoles(scene.grantee.address, 8), c.admins["Harbin"])
    with reverts_with("DataGrants", "MissingRole"):
        scene.desk.accept(grant_id, scene.grantee, scene.relayer)


# ------------------------------------------------------------------ withdraw


def test_grantor_withdraws_an_offer(scene: Scene) -> None:
    desk = scene.desk
    offer = scene.offer()
    grant_id, _ = desk.offer(offer, scene.grantor, scene.relayer)
    receipt = desk.c.transact(desk.grants.functions.withdrawOffer(grant_id), scene.grantor)
    assert _events(scene, "OfferWithdrawn", receipt)[0]["grantId"] == grant_id
    assert desk.status(grant_id) == GrantStatus.WITHDRAWN
    with reverts_with("DataGrants", "WrongStatus"):
        desk.accept(grant_id, scene.grantee, scene.relayer)
    with reverts_with("DataGrants", "GrantExists"):
        desk.submit(offer, scene.grantor, scene.grantee, scene.relayer)


def test_withdraw_refusals(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.offered()
    with reverts_with("DataGrants", "NotGrantor"):
        desk.c.transact(desk.grants.functions.withdrawOffer(grant_id), scene.grantee)
    desk.accept(grant_id, scene.grantee, scene.relayer)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(desk.grants.functions.withdrawOffer(grant_id), scene.grantor)
    with reverts_with("DataGrants", "UnknownGrant"):
        desk.c.transact(desk.grants.functions.withdrawOffer(b"\x01" * 32), scene.grantor)


# ------------------------------------------------------------------ revoke


def test_grantor_revokes(scene: Scene) -> None:
    grant_id = scene.active()
    desk = scene.desk
    receipt = desk.c.transact(
        desk.grants.functions.revoke(grant_id, keccak(text="misuse")), scene.grantor
    )
    assert _events(scene, "GrantRevoked", receipt) == [
        {
            "grantId": grant_id,
            "datasetId": scene.dataset,
            "grantor": scene.grantor.address,
            "reasonHash": keccak(text="misuse"),
        }
    ]
    assert desk.status(grant_id) == GrantStatus.REVOKED
    desk.c.time_travel(10_000)
    assert desk.status(grant_id) == GrantStatus.REVOKED


def test_revoke_refusals(scene: Scene) -> None:
    desk = scene.desk
    revoke = desk.grants.functions.revoke
    grant_id = scene.active(lasts=100)
    for other in (scene.grantee, scene.auditor, desk.agency("harbin.bdc")):
        with reverts_with("DataGrants", "NotGrantor"):
            desk.c.transact(revoke(grant_id, b"\0" * 32), other)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(revoke(scene.offered(), b"\0" * 32), scene.grantor)
    desk.c.time_travel(200)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(revoke(grant_id, b"\0" * 32), scene.grantor)
    with reverts_with("DataGrants", "UnknownGrant"):
        desk.c.transact(revoke(b"\x07" * 32, b"\0" * 32), scene.grantor)


def test_revoke_twice_is_refused(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.active()
    desk.c.transact(desk.grants.functions.revoke(grant_id, b"\0" * 32), scene.grantor)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(desk.grants.functions.revoke(grant_id, b"\0" * 32), scene.grantor)


def test_grantor_may_revoke_a_suspended_grant(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.active()
    desk.c.transact(desk.grants.functions.suspend(grant_id, b"\1" * 32), scene.auditor)
    desk.c.transact(desk.grants.functions.revoke(grant_id, b"\2" * 32), scene.grantor)
    assert desk.status(grant_id) == GrantStatus.REVOKED
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(desk.grants.functions.reinstate(grant_id, b"\3" * 32), scene.auditor)


# ------------------------------------------------------------------ suspend and reinstate


def test_auditor_suspends_and_reinstates(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.active()
    receipt = desk.c.transact(
        desk.grants.functions.suspend(grant_id, keccak(text="case 7")), scene.auditor
    )
    assert _events(scene, "GrantSuspended", receipt) == [
        {
            "grantId": grant_id,
            "datasetId": scene.dataset,
            "by": scene.auditor.address,
            "cause": keccak(text="case 7"),
            "forIncident": False,
        }
    ]
    assert desk.status(grant_id) == GrantStatus.SUSPENDED
    receipt = desk.c.transact(
        desk.grants.functions.reinstate(grant_id, keccak(text="cleared")), scene.auditor
    )
    assert _events(scene, "GrantReinstated", receipt)[0]["auditor"] == scene.auditor.address
    assert desk.status(grant_id) == GrantStatus.ACTIVE


def test_a_suspended_grant_still_expires(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.active(lasts=100)
    desk.c.transact(desk.grants.functions.suspend(grant_id, b"\1" * 32), scene.auditor)
    desk.c.time_travel(200)
    assert desk.status(grant_id) == GrantStatus.EXPIRED
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(desk.grants.functions.reinstate(grant_id, b"\1" * 32), scene.auditor)


@pytest.mark.parametrize("key", ["jiamusi.bdc", "harbin.health", "harbin.bdc"])
def test_suspend_and_reinstate_need_the_auditor_role(scene: Scene, key: str) -> None:
    desk = scene.desk
    grant_id = scene.active()
    with reverts_with("DataGrants", "MissingRole"):
        desk.c.transact(desk.grants.functions.suspend(grant_id, b"\1" * 32), desk.agency(key))
    desk.c.transact(desk.grants.functions.suspend(grant_id, b"\1" * 32), scene.auditor)
    with reverts_with("DataGrants", "MissingRole"):
        desk.c.transact(desk.grants.functions.reinstate(grant_id, b"\1" * 32), desk.agency(key))


def test_suspend_and_reinstate_status_refusals(scene: Scene) -> None:
    desk = scene.desk
    suspend, reinstate = desk.grants.functions.suspend, desk.grants.functions.reinstate
    offered = scene.offered()
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(suspend(offered, b"\1" * 32), scene.auditor)
    active = scene.active()
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(reinstate(active, b"\1" * 32), scene.auditor)
    desk.c.transact(suspend(active, b"\1" * 32), scene.auditor)
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(suspend(active, b"\1" * 32), scene.auditor)
    with reverts_with("DataGrants", "UnknownGrant"):
        desk.c.transact(suspend(b"\x05" * 32, b"\1" * 32), scene.auditor)


def test_leak_registry_suspends_for_an_incident(scene: Scene) -> None:
    desk = scene.desk
    leaks = desk.c.contracts["LeakRegistry"]
    grant_id = scene.active()
    already = scene.active()
    desk.c.transact(desk.grants.functions.suspend(already, b"\1" * 32), scene.auditor)
    desk.c.transact(
        leaks.functions.reportIncident(scene.dataset, keccak(text="leaked.csv")), scene.auditor
    )
    receipt = desk.c.transact(
        leaks.functions.suspendImplicatedGrants(1, [grant_id, already]), scene.auditor
    )
    events = _events(scene, "GrantSuspended", receipt)
    assert [(e["grantId"], e["by"], e["cause"], e["forIncident"]) for e in events] == [
        (grant_id, leaks.address, (1).to_bytes(32, "big"), True),
        (already, leaks.address, (1).to_bytes(32, "big"), True),
    ]
    assert desk.status(grant_id) == GrantStatus.SUSPENDED
    desk.c.transact(desk.grants.functions.reinstate(grant_id, b"\1" * 32), scene.auditor)
    assert desk.status(grant_id) == GrantStatus.ACTIVE


def test_suspend_for_incident_refusals(scene: Scene) -> None:
    desk = scene.desk
    grant_id = scene.active()
    with reverts_with("DataGrants", "NotLeakRegistry"):
        desk.c.transact(
            desk.grants.functions.suspendForIncident(grant_id, b"\1" * 32), scene.auditor
        )
    leaks = desk.c.contracts["LeakRegistry"]
    desk.c.transact(desk.grants.functions.revoke(grant_id, b"\0" * 32), scene.grantor)
    desk.c.transact(
        leaks.functions.reportIncident(scene.dataset, keccak(text="leaked.csv")), scene.auditor
    )
    with reverts_with("DataGrants", "WrongStatus"):
        desk.c.transact(leaks.functions.suspendImplicatedGrants(1, [grant_id]), scene.auditor)


def test_consume_access_only_from_access_log(scene: Scene) -> None:
    grant_id = scene.active()
    with reverts_with("DataGrants", "NotAccessLog"):
        scene.desk.c.transact(
            scene.desk.grants.functions.consumeAccess(grant_id, scene.grantee.address, 1),
            scene.grantee,
        )


# ------------------------------------------------------------------ views


def test_grant_lists_by_dataset_grantor_and_grantee_paginate(scene: Scene) -> None:
    desk = scene.desk
    ids = [scene.offered() for _ in range(5)]
    other = desk.agency("qiqihar.health")
    to_other = desk.submit(
        desk.make_offer(scene.dataset, scene.grantor, other), scene.grantor, other, scene.relayer
    )
    fn = desk.grants.functions
    assert fn.grantsByDataset(scene.dataset, 0, 100).call() == [[*ids, to_other], 6]
    assert fn.grantsByDataset(scene.dataset, 2, 2).call() == [ids[2:4], 6]
    assert fn.grantsByDataset(scene.dataset, 5, 2).call() == [[to_other], 6]
    assert fn.grantsByDataset(scene.dataset, 9, 2).call() == [[], 6]
    assert fn.grantsByDataset(scene.dataset, 1, 2**256 - 1).call() == [[*ids[1:], to_other], 6]
    assert fn.grantsByGrantor(scene.grantor.address, 0, 3).call() == [ids[:3], 6]
    assert fn.grantsByGrantee(scene.grantee.address, 0, 10).call() == [ids, 5]
    assert fn.grantsByGrantee(other.address, 0, 10).call() == [[to_other], 1]
    assert fn.grantsByGrantee(scene.auditor.address, 0, 10).call() == [[], 0]
    with reverts_with("DataGrants", "InvalidPage"):
        fn.grantsByDataset(scene.dataset, 0, 0).call()


def test_views_of_an_unknown_grant(scene: Scene) -> None:
    fn = scene.desk.grants.functions
    unknown = b"\x33" * 32
    assert fn.statusOf(unknown).call() == GrantStatus.NONE
    assert fn.isGrantActive(unknown).call() is False
    assert fn.datasetOf(unknown).call() == b"\0" * 32
    assert fn.partiesOf(unknown).call() == ["0x" + "0" * 40] * 2
    with reverts_with("DataGrants", "UnknownGrant"):
        fn.getGrant(unknown).call()
