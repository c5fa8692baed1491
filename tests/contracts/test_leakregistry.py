"""LeakRegistry: delivery fingerprint commitments, incidents, findings, and suspension of the
implicated grants through DataGrants (real grants, signed as EIP-712 typed data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from chain_helpers import ROLE_AUDITOR, TestConsortium, reverts_with
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from grant_helpers import GrantDesk, GrantStatus
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxParams

from cityledger.contracts.artifacts import load_artifact
from cityledger.contracts.deployment import city_id, text32

LR = "LeakRegistry"
OPEN, INVESTIGATING, ATTRIBUTED, UNATTRIBUTED, DISMISSED = 1, 2, 3, 4, 5
METHOD = text32("canary+ak-v1")
TRACE = "jiamusi/epidemic-travel-trace"


@dataclass
class Scene:
    """Jiamusi's travel-trace dataset with two active grants (to Harbin's and Qiqihar's health
    commissions), a Daqing dataset with one grant, and the provincial auditor."""

    c: TestConsortium
    desk: GrantDesk
    registry: Contract
    dataset: bytes
    grantor: LocalAccount
    auditor: LocalAccount
    to_harbin: bytes
    to_qiqihar: bytes
    other_dataset: bytes
    other_grant: bytes

    def send(self, call: Any, sender: LocalAccount) -> Any:
        return self.c.transact(call, sender)

    def as_(self, sender: LocalAccount) -> TxParams:
        return {"from": sender.address}

    def report(self, evidence: str = "leaked spreadsheet") -> int:
        fn = self.registry.functions
        self.send(fn.reportIncident(self.dataset, keccak(text=evidence)), self.auditor)
        return int(fn.incidentCount().call())

    def find(self, incident: int, grant: bytes, score: int = 12_000) -> Any:
        call = self.registry.functions.recordFinding(
            incident, grant, score, METHOD, keccak(text="report")
        )
        return self.send(call, self.auditor)

    def events(self, name: str, receipt: Any, contract: Contract | None = None) -> list[Any]:
        source = contract or self.registry
        return list(source.events[name]().process_receipt(receipt, errors=DISCARD))


@pytest.fixture
def scene(consortium: TestConsortium) -> Scene:
    desk = GrantDesk(consortium)
    grantor, relayer = desk.agency("jiamusi.bdc"), consortium.spare[0]
    dataset = desk.register_dataset(grantor, TRACE)
    grants = [
        desk.submit(
            desk.make_offer(dataset, grantor, desk.agency(k)), grantor, desk.agency(k), relayer
        )
        for k in ("harbin.health", "qiqihar.health")
    ]
    daqing = desk.agency("daqing.bdc")
    other = desk.register_dataset(daqing, "daqing/bus-card-taps")
    other_grant = desk.submit(
        desk.make_offer(other, daqing, desk.agency("harbin.health")),
        daqing,
        desk.agency("harbin.health"),
        relayer,
    )
    return Scene(
        c=consortium,
        desk=desk,
        registry=consortium.contracts[LR],
        dataset=dataset,
        grantor=grantor,
        auditor=desk.agency("audit"),
        to_harbin=grants[0],
        to_qiqihar=grants[1],
        other_dataset=other,
        other_grant=other_grant,
    )


# ---------------------------------------------------------------- the whole scenario


def test_leak_traced_to_a_grant(scene: Scene) -> None:
    fn = scene.registry.functions
    for grant in (scene.to_harbin, scene.to_qiqihar):
        scene.send(
            fn.registerDelivery(grant, keccak(grant + b"marks"), METHOD, 1_200), scene.grantor
        )
    incident = scene.report()
    scene.send(
        fn.suspendImplicatedGrants(incident, [scene.to_harbin, scene.to_qiqihar]), scene.auditor
    )
    assert scene.desk.status(scene.to_harbin) == GrantStatus.SUSPENDED
    assert scene.desk.status(scene.to_qiqihar) == GrantStatus.SUSPENDED
    scene.send(fn.setIncidentStatus(incident, INVESTIGATING, keccak(text="tracing")), scene.auditor)
    scene.find(incident, scene.to_qiqihar, score=14_300)
    scene.send(fn.setIncidentStatus(incident, ATTRIBUTED, keccak(text="done")), scene.auditor)

    dataset, evidence, reporter, status, _, _, findings, suspended = fn.getIncident(incident).call()
    assert (dataset, evidence, reporter) == (
        scene.dataset,
        keccak(text="leaked spreadsheet"),
        scene.auditor.address,
    )
    assert (status, findings, suspended) == (ATTRIBUTED, 1, 2)
    ((grant, score, method, details, auditor, _),) = fn.findingsOf(incident).call()
    assert (grant, score, method, details, auditor) == (
        scene.to_qiqihar,
        14_300,
        METHOD,
        keccak(text="report"),
        scene.auditor.address,
    )
    assert fn.suspendedGrantsOf(incident).call() == [scene.to_harbin, scene.to_qiqihar]
    assert fn.incidentsOfDataset(scene.dataset).call() == [incident]
    ((commitment, method, records, _, grantor, recorded_by),) = fn.deliveriesOf(
        scene.to_qiqihar
    ).call()
    assert (commitment, method, records, grantor, recorded_by) == (
        keccak(scene.to_qiqihar + b"marks"),
        METHOD,
        1_200,
        scene.grantor.address,
        scene.grantor.address,
    )


# ---------------------------------------------------------------- registerDelivery


def test_register_delivery(scene: Scene) -> None:
    fn = scene.registry.functions
    receipt = scene.send(
        fn.registerDelivery(scene.to_harbin, keccak(text="c1"), METHOD, 500), scene.grantor
    )
    (event,) = scene.events("DeliveryRegistered", receipt)
    assert (event.args.grantId, event.args.datasetId, event.args.grantor) == (
        scene.to_harbin,
        scene.dataset,
        scene.grantor.address,
    )
    assert (event.args.deliveryIndex, event.args.commitment, event.args.deliveredRecords) == (
        0,
        keccak(text="c1"),
        500,
    )
    assert event.args.recordedBy == scene.grantor.address
    scene.send(fn.registerDelivery(scene.to_harbin, keccak(text="c2"), METHOD, 20), scene.grantor)
    assert [d[0] for d in fn.deliveriesOf(scene.to_harbin).call()] == [
        keccak(text="c1"),
        keccak(text="c2"),
    ]
    assert fn.isRegisteredCommitment(scene.to_harbin, keccak(text="c2")).call()
    assert fn.deliveriesOf(scene.to_qiqihar).call() == []


@pytest.mark.parametrize("key", ["harbin.health", "daqing.bdc", "audit", "jiamusi.emergency"])
def test_register_delivery_only_by_the_grantor(scene: Scene, key: str) -> None:
    call = scene.registry.functions.registerDelivery(scene.to_harbin, keccak(text="c"), METHOD, 1)
    with reverts_with(LR, "NotGrantor"):
        call.transact(scene.as_(scene.c.agencies[key]))


def test_register_delivery_by_a_deactivated_grantor_is_refused(scene: Scene) -> None:
    c = scene.c
    c.transact(c.consortium.functions.deactivateAgency(scene.grantor.address), c.admins["Jiamusi"])
    call = scene.registry.functions.registerDelivery(scene.to_harbin, keccak(text="c"), METHOD, 1)
    with reverts_with(LR, "NotGrantor"):
        call.transact(scene.as_(scene.grantor))


def test_register_delivery_refusals(scene: Scene) -> None:
    fn = scene.registry.functions
    with reverts_with(LR, "UnknownGrant"):
        fn.registerDelivery(keccak(text="no grant"), keccak(text="c"), METHOD, 1).transact(
            scene.as_(scene.grantor)
        )
    with reverts_with(LR, "ZeroCommitment"):
        fn.registerDelivery(scene.to_harbin, b"\0" * 32, METHOD, 1).transact(
            scene.as_(scene.grantor)
        )
    scene.send(fn.registerDelivery(scene.to_harbin, keccak(text="c"), METHOD, 1), scene.grantor)
    with reverts_with(LR, "CommitmentAlreadyRegistered"):
        fn.registerDelivery(scene.to_harbin, keccak(text="c"), METHOD, 2).transact(
            scene.as_(scene.grantor)
        )


def test_register_delivery_on_an_offered_grant(scene: Scene) -> None:
    desk = scene.desk
    offer = desk.make_offer(scene.dataset, scene.grantor, desk.agency("daqing.health"))
    grant, _ = desk.offer(offer, scene.grantor, scene.c.spare[0])
    scene.send(
        scene.registry.functions.registerDelivery(grant, keccak(text="c"), METHOD, 3), scene.grantor
    )
    assert len(scene.registry.functions.deliveriesOf(grant).call()) == 1


# ---------------------------------------------------------------- reportIncident


def test_report_incident(scene: Scene) -> None:
    fn = scene.registry.functions
    receipt = scene.send(fn.reportIncident(scene.dataset, keccak(text="e1")), scene.auditor)
    (event,) = scene.events("IncidentReported", receipt)
    assert (
        event.args.incidentId,
        event.args.datasetId,
        event.args.reporter,
        event.args.evidenceHash,
    ) == (1, scene.dataset, scene.auditor.address, keccak(text="e1"))
    assert scene.report("e2") == 2
    scene.send(fn.reportIncident(scene.other_dataset, keccak(text="e3")), scene.auditor)
    assert fn.incidentsOfDataset(scene.dataset).call() == [1, 2]
    assert fn.incidentsOfDataset(scene.other_dataset).call() == [3]
    assert fn.getIncident(2).call()[3] == OPEN


@pytest.mark.parametrize("key", ["jiamusi.bdc", "harbin.health", "harbin.emergency"])
def test_report_incident_only_by_an_auditor(scene: Scene, key: str) -> None:
    call = scene.registry.functions.reportIncident(scene.dataset, keccak(text="e"))
    with reverts_with(LR, "NotAuditor"):
        call.transact(scene.as_(scene.c.agencies[key]))


def test_report_incident_refusals(scene: Scene) -> None:
    fn = scene.registry.functions
    with reverts_with(LR, "NotAuditor"):  # a city admin is no auditor
        fn.reportIncident(scene.dataset, keccak(text="e")).transact(
            scene.as_(scene.c.admins["Harbin"])
        )
    with reverts_with(LR, "ZeroDataset"):
        fn.reportIncident(b"\0" * 32, keccak(text="e")).transact(scene.as_(scene.auditor))
    with reverts_with(LR, "ZeroEvidence"):
        fn.reportIncident(scene.dataset, b"\0" * 32).transact(scene.as_(scene.auditor))
    with reverts_with(LR, "UnknownDataset"):
        fn.reportIncident(keccak(text="no such dataset"), keccak(text="e")).transact(
            scene.as_(scene.auditor)
        )


def test_an_auditor_voted_out_can_no_longer_report(scene: Scene) -> None:
    c, con = scene.c, scene.c.consortium.functions
    c.transact(con.proposeSetAuditor(scene.auditor.address, False), c.admins["Harbin"])
    proposal = int(con.proposalCount().call())
    for city in ("Qiqihar", "Mudanjiang", "Jiamusi"):
        c.transact(con.vote(proposal), c.admins[city])
    assert not con.hasRole(scene.auditor.address, ROLE_AUDITOR).call()
    with reverts_with(LR, "NotAuditor"):
        scene.registry.functions.reportIncident(scene.dataset, keccak(text="e")).transact(
            scene.as_(scene.auditor)
        )


# ---------------------------------------------------------------- setIncidentStatus


def test_incident_life_cycle(scene: Scene) -> None:
    fn = scene.registry.functions
    incident = scene.report()
    receipt = scene.send(
        fn.setIncidentStatus(incident, INVESTIGATING, keccak(text="why")), scene.auditor
    )
    (event,) = scene.events("IncidentStatusChanged", receipt)
    assert (event.args.incidentId, event.args.datasetId, event.args.auditor) == (
        incident,
        scene.dataset,
        scene.auditor.address,
    )
    assert (event.args.previousStatus, event.args.newStatus, event.args.reasonHash) == (
        OPEN,
        INVESTIGATING,
        keccak(text="why"),
    )
    for bad in (0, OPEN, INVESTIGATING):
        with reverts_with(LR, "InvalidStatusTransition"):
            fn.setIncidentStatus(incident, bad, b"\0" * 32).transact(scene.as_(scene.auditor))
    with reverts_with(LR, "NoFindings"):
        fn.setIncidentStatus(incident, ATTRIBUTED, b"\0" * 32).transact(scene.as_(scene.auditor))
    scene.send(fn.setIncidentStatus(incident, UNATTRIBUTED, b"\0" * 32), scene.auditor)
    for any_status in (INVESTIGATING, DISMISSED):
        with reverts_with(LR, "IncidentClosed"):
            fn.setIncidentStatus(incident, any_status, b"\0" * 32).transact(
                scene.as_(scene.auditor)
            )


@pytest.mark.parametrize("closing", [ATTRIBUTED, UNATTRIBUTED, DISMISSED])
def test_an_open_incident_may_close_directly(scene: Scene, closing: int) -> None:
    fn = scene.registry.functions
    incident = scene.report()
    if closing == ATTRIBUTED:
        scene.find(incident, scene.to_harbin)
    scene.send(fn.setIncidentStatus(incident, closing, b"\0" * 32), scene.auditor)
    assert fn.getIncident(incident).call()[3] == closing


def test_set_incident_status_refusals(scene: Scene) -> None:
    fn = scene.registry.functions
    with reverts_with(LR, "UnknownIncident"):
        fn.setIncidentStatus(1, INVESTIGATING, b"\0" * 32).transact(scene.as_(scene.auditor))
    incident = scene.report()
    with reverts_with(LR, "NotAuditor"):
        fn.setIncidentStatus(incident, DISMISSED, b"\0" * 32).transact(scene.as_(scene.grantor))


# ---------------------------------------------------------------- recordFinding


def test_record_finding(scene: Scene) -> None:
    fn = scene.registry.functions
    incident = scene.report()
    receipt = scene.find(incident, scene.to_harbin, score=9_000)
    (event,) = scene.events("FindingRecorded", receipt)
    assert (
        event.args.incidentId,
        event.args.grantId,
        event.args.auditor,
        event.args.datasetId,
    ) == (incident, scene.to_harbin, scene.auditor.address, scene.dataset)
    assert (event.args.findingIndex, event.args.score, event.args.method) == (0, 9_000, METHOD)
    scene.find(incident, scene.to_qiqihar, score=100)
    assert [f[0] for f in fn.findingsOf(incident).call()] == [scene.to_harbin, scene.to_qiqihar]
    assert fn.getIncident(incident).call()[6] == 2


def test_record_finding_refusals(scene: Scene) -> None:
    fn = scene.registry.functions
    finding = fn.recordFinding(1, scene.to_harbin, 1, METHOD, b"\0" * 32)
    with reverts_with(LR, "UnknownIncident"):
        finding.transact(scene.as_(scene.auditor))
    incident = scene.report()
    with reverts_with(LR, "NotAuditor"):
        finding.transact(scene.as_(scene.grantor))
    with reverts_with(LR, "UnknownGrant"):
        fn.recordFinding(incident, keccak(text="none"), 1, METHOD, b"\0" * 32).transact(
            scene.as_(scene.auditor)
        )
    with reverts_with(LR, "GrantNotOnDataset"):
        fn.recordFinding(incident, scene.other_grant, 1, METHOD, b"\0" * 32).transact(
            scene.as_(scene.auditor)
        )
    scene.send(fn.setIncidentStatus(incident, DISMISSED, b"\0" * 32), scene.auditor)
    with reverts_with(LR, "IncidentClosed"):
        finding.transact(scene.as_(scene.auditor))


# ---------------------------------------------------------------- suspendImplicatedGrants


def test_suspend_implicated_grants(scene: Scene) -> None:
    fn = scene.registry.functions
    incident = scene.report()
    receipt = scene.send(fn.suspendImplicatedGrants(incident, [scene.to_harbin]), scene.auditor)
    (event,) = scene.events("ImplicatedGrantSuspended", receipt)
    assert (
        event.args.incidentId,
        event.args.grantId,
        event.args.datasetId,
        event.args.auditor,
    ) == (incident, scene.to_harbin, scene.dataset, scene.auditor.address)
    (suspended,) = scene.events("GrantSuspended", receipt, scene.desk.grants)
    assert (suspended.args.grantId, suspended.args.by, suspended.args.forIncident) == (
        scene.to_harbin,
        scene.registry.address,
        True,
    )
    assert suspended.args.cause == incident.to_bytes(32, "big")  # the incident id as bytes32
    assert scene.desk.status(scene.to_harbin) == GrantStatus.SUSPENDED
    assert scene.desk.status(scene.to_qiqihar) == GrantStatus.ACTIVE
    assert fn.isSuspendedByIncident(incident, scene.to_harbin).call()


def test_a_grant_already_suspended_by_an_auditor_can_be_implicated(scene: Scene) -> None:
    grants = scene.desk.grants.functions
    scene.send(grants.suspend(scene.to_harbin, keccak(text="review")), scene.auditor)
    incident = scene.report()
    scene.send(
        scene.registry.functions.suspendImplicatedGrants(incident, [scene.to_harbin]), scene.auditor
    )
    assert scene.registry.functions.suspendedGrantsOf(incident).call() == [scene.to_harbin]


def test_suspension_is_all_or_nothing(scene: Scene) -> None:
    grants, fn = scene.desk.grants.functions, scene.registry.functions
    scene.send(grants.revoke(scene.to_qiqihar, keccak(text="ended")), scene.grantor)
    incident = scene.report()
    with reverts_with("DataGrants", "WrongStatus"):
        fn.suspendImplicatedGrants(incident, [scene.to_harbin, scene.to_qiqihar]).transact(
            scene.as_(scene.auditor)
        )
    assert scene.desk.status(scene.to_harbin) == GrantStatus.ACTIVE
    assert fn.suspendedGrantsOf(incident).call() == []


def test_suspend_implicated_grants_refusals(scene: Scene) -> None:
    fn = scene.registry.functions
    with reverts_with(LR, "UnknownIncident"):
        fn.suspendImplicatedGrants(1, [scene.to_harbin]).transact(scene.as_(scene.auditor))
    incident = scene.report()
    with reverts_with(LR, "NotAuditor"):
        fn.suspendImplicatedGrants(incident, [scene.to_harbin]).transact(scene.as_(scene.grantor))
    with reverts_with(LR, "NoGrants"):
        fn.suspendImplicatedGrants(incident, []).transact(scene.as_(scene.auditor))
    with reverts_with(LR, "GrantNotOnDataset"):
        fn.suspendImplicatedGrants(incident, [scene.to_harbin, scene.other_grant]).transact(
            scene.as_(scene.auditor)
        )
    with reverts_with(LR, "UnknownGrant"):
        fn.suspendImplicatedGrants(incident, [keccak(text="none")]).transact(
            scene.as_(scene.auditor)
        )
    with reverts_with(LR, "GrantAlreadySuspended"):
        fn.suspendImplicatedGrants(incident, [scene.to_harbin, scene.to_harbin]).transact(
            scene.as_(scene.auditor)
        )
    scene.send(fn.setIncidentStatus(incident, DISMISSED, b"\0" * 32), scene.auditor)
    with reverts_with(LR, "IncidentClosed"):
        fn.suspendImplicatedGrants(incident, [scene.to_harbin]).transact(scene.as_(scene.auditor))


# ---------------------------------------------------------------- views; no DataGrants


def test_views_of_unknown_incidents(scene: Scene) -> None:
    fn = scene.registry.functions
    for view in (fn.getIncident, fn.findingsOf, fn.suspendedGrantsOf):
        with reverts_with(LR, "UnknownIncident"):
            view(1).call()
    assert fn.incidentsOfDataset(keccak(text="none")).call() == []


def test_without_data_grants_the_grant_checks_refuse(consortium: TestConsortium) -> None:
    w3, deployer, auditor = consortium.w3, consortium.spare[0], consortium.spare[1]
    admin, validator = consortium.spare[2], consortium.spare[3]

    def deploy(name: str, *args: Any) -> Contract:
        artifact = load_artifact(name)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = w3.eth.wait_for_transaction_receipt(
            factory.constructor(*args).transact({"from": deployer.address})
        )
        address = receipt["contractAddress"]
        assert address is not None
        return w3.eth.contract(address=address, abi=artifact.abi)

    lonely = deploy("Consortium")
    con = lonely.functions
    consortium.transact(
        con.bootstrapCity("Harbin", admin.address, validator.address, text32("HLJ")), deployer
    )
    consortium.transact(
        con.bootstrapAgency(auditor.address, city_id("Harbin"), "Audit", ROLE_AUDITOR), deployer
    )
    consortium.transact(con.finishBootstrap(), deployer)
    registry = deploy(LR, lonely.address)
    with reverts_with(LR, "DataGrantsNotDeployed"):  # it cannot tell whether the dataset exists
        registry.functions.reportIncident(keccak(text="d"), keccak(text="e")).transact(
            {"from": auditor.address}
        )
    with reverts_with(LR, "DataGrantsNotDeployed"):
        registry.functions.registerDelivery(keccak(text="g"), keccak(text="c"), METHOD, 1).transact(
            {"from": auditor.address}
        )
