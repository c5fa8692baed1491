"""Scenarios 1-3 through the SDK on anvil: an offline-signed offer carried as a file, countersigned,
submitted, used, traced, revoked and refused; suspension by an auditor; the typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from anvil_helpers import Deployed, role_key

from cityledger.sdk import Ledger, errors
from cityledger.sdk.models import Grant, GrantStatus, IncidentStatus
from cityledger.sdk.offers import Domain, GrantOffer, OfferFile, acceptance_message, sign_offer

DATASET = "jiamusi/epidemic-travel-trace"
FIELDS = 0b00111  # id_hash, trajectory, test_result (not name, phone)


def ledger(deployed: Deployed, key: str) -> Ledger:
    return Ledger.connect(deployed.anvil.url, role_key(key), manifest=deployed.manifest_path)


@pytest.fixture(scope="module")
def dataset(deployed: Deployed) -> str:
    registered = ledger(deployed, "jiamusi.bdc").datasets.register(
        DATASET, schema="id_hash,trajectory,test_result,name,phone", field_count=5
    )
    return registered.id


def offer_terms(deployed: Deployed, dataset: str, *, quota: int = 200) -> GrantOffer:
    now = datetime.now(UTC)
    return GrantOffer.create(
        dataset_id=dataset,
        grantor=role_key("jiamusi.bdc").address,
        grantee=role_key("harbin.health").address,
        purpose="epidemic-control",
        purpose_text="Trace contacts of cases who travelled through Jiamusi in the last 14 days",
        fields=FIELDS,
        valid_from=now - timedelta(minutes=5),
        valid_until=now + timedelta(days=30),
        access_quota=quota,
    )


def active_grant(deployed: Deployed, dataset: str, tmp_path: Path, *, quota: int = 200) -> Grant:
    """Offer signed offline by Jiamusi (no node: chain id and DataGrants address given),
    carried as a file, countersigned and submitted by Harbin Health."""
    domain = Domain(deployed.manifest.chain_id, deployed.manifest.contracts["DataGrants"])
    offer_path = tmp_path / "offer.json"
    sign_offer(role_key("jiamusi.bdc"), domain, offer_terms(deployed, dataset, quota=quota)).write(
        offer_path
    )
    harbin = ledger(deployed, "harbin.health")
    countersigned = harbin.grants.countersign(offer_path, tmp_path / "accepted.json")
    return harbin.grants.submit(countersigned)


def test_offline_offer_to_refused_access(deployed: Deployed, dataset: str, tmp_path: Path) -> None:
    grant = active_grant(deployed, dataset, tmp_path)
    assert grant.status is GrantStatus.ACTIVE
    assert grant.grantor == role_key("jiamusi.bdc").address
    assert grant.purpose_code == "epidemic-control"

    harbin = ledger(deployed, "harbin.health")
    access = harbin.access.record(
        grant.id, query="SELECT trajectory WHERE day>=-14", records=37, fields=0b011
    )
    assert (access.access_number, access.record_count) == (1, 37)
    assert access.timestamp.tzinfo is not None

    trace = list(harbin.audit.trace(grant=grant.id))
    assert [e.event for e in trace] == ["GrantOffered", "GrantAccepted", "AccessRecorded"]
    assert trace[2].args["recordCount"] == 37

    jiamusi = ledger(deployed, "jiamusi.bdc")
    assert jiamusi.grants.revoke(grant.id, "outbreak over").status is GrantStatus.REVOKED
    with pytest.raises(errors.WrongStatus) as refused:
        harbin.access.record(grant.id, query="again", records=1, fields=0b1)
    message = str(refused.value)
    assert grant.id in message and "revoked" in message and grant.grantor in message
    assert refused.value.error_args["grantId"] == grant.id
    assert isinstance(refused.value, errors.LedgerRevert)
    assert [e.event for e in harbin.audit.trace(grant=grant.id)][-1] == "GrantRevoked"


def test_access_refusals_name_grant_and_rule(
    deployed: Deployed, dataset: str, tmp_path: Path
) -> None:
    grant = active_grant(deployed, dataset, tmp_path, quota=1)
    harbin = ledger(deployed, "harbin.health")
    with pytest.raises(errors.FieldsOutOfScope) as out_of_scope:
        harbin.access.record(grant.id, query="names", records=1, fields=0b01000)
    assert grant.id in str(out_of_scope.value)
    with pytest.raises(errors.NotGrantee) as not_grantee:
        ledger(deployed, "jiamusi.bdc").access.record(grant.id, query="q", records=1, fields=1)
    assert "only the grantee" in str(not_grantee.value)
    harbin.access.record(grant.id, query="q", records=1, fields=1)
    with pytest.raises(errors.QuotaExhausted) as exhausted:
        harbin.access.record(grant.id, query="q", records=1, fields=1)
    assert "1 accesses" in str(exhausted.value) and "larger quota" in str(exhausted.value)


def test_auditor_suspends_and_reinstates(deployed: Deployed, dataset: str, tmp_path: Path) -> None:
    grant = active_grant(deployed, dataset, tmp_path)
    auditor = ledger(deployed, "harbin.audit")
    incident = auditor.leaks.report(DATASET, evidence=b"leaked trajectories.xlsx")
    assert incident.status is IncidentStatus.OPEN
    auditor.leaks.suspend_implicated(incident.id, [grant.id])
    assert auditor.grants.get(grant.id).status is GrantStatus.SUSPENDED
    with pytest.raises(errors.WrongStatus) as suspended:
        ledger(deployed, "harbin.health").access.record(grant.id, query="q", records=1, fields=1)
    assert "AUDITOR" in str(suspended.value)
    finding = auditor.leaks.attribute(incident.id, grant.id, score=12000, method="canary+ak-v1")
    assert finding.grant_id == grant.id and auditor.leaks.findings(incident.id) == [finding]
    assert auditor.grants.reinstate(grant.id, "cleared").status is GrantStatus.ACTIVE
    events = [e.event for e in auditor.audit.trace(dataset=DATASET)]
    assert "IncidentReported" in events and "ImplicatedGrantSuspended" in events


def test_submission_refusals(deployed: Deployed, dataset: str, tmp_path: Path) -> None:
    jiamusi = ledger(deployed, "jiamusi.bdc")
    signed = jiamusi.grants.offer_file(offer_terms(deployed, dataset))
    jiamusi.grants.submit(signed)  # offered only
    with pytest.raises(errors.GrantExists):
        jiamusi.grants.submit(signed)
    # A grantee signature that does not verify reaches the contract only if the file is bypassed:
    # the contract checks it again and says who had to sign.
    contract = jiamusi.chain.contract("DataGrants")
    bogus = role_key("qiqihar.emergency").sign_message(
        acceptance_message(jiamusi.grants.domain, signed.grant_id)
    )
    with pytest.raises(errors.WrongSigner) as wrong:
        jiamusi.chain.transact(
            contract.functions.acceptGrant(bytes.fromhex(signed.grant_id[2:]), bogus)
        )
    assert role_key("harbin.health").address in str(wrong.value)
    harbin = ledger(deployed, "harbin.health")
    with pytest.raises(errors.NotGrantor):
        harbin.grants.revoke(signed.grant_id)
    assert harbin.grants.accept(signed.grant_id).status is GrantStatus.ACTIVE
    assert harbin.grants.status(signed.grant_id) is GrantStatus.ACTIVE
    assert OfferFile.from_json(signed.as_json()) == signed
