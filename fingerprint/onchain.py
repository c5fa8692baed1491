"""The chain's side of tracing a leak and of its findings.

    candidates = candidate_grants(ledger, dataset, until=incident.reported_at)
    incident = incident_of(ledger, incident_id, evidence)      # the file must be its evidence
    reveal = reveal_grant(ledger, incident, grant_id, evidence, reference, kept)
    checked = check_finding(ledger, incident_id, evidence, reveal, recorded_score)
    finding = record_finding(auditor, incident_id, evidence, reveal_path)

A trace scores every grant with a delivery of the dataset (DeliveryRegistered events), named by
its grantee agency. With an incident, only deliveries registered no later than the incident's
report count: a copy made after the evidence was fixed cannot be its source. A reveal and a
finding are cross-checked against the chain wherever the reveal could otherwise speak for
itself: the grant's dataset, grantee and fields, and how many candidates the trace corrected for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cityledger.fingerprint.commitment import KeptCommitments
from cityledger.fingerprint.errors import FindingRejected, FingerprintError
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.scheme import METHOD
from cityledger.fingerprint.scoring import DEFAULT_THRESHOLD, CandidateGrant, TraceReport, trace
from cityledger.fingerprint.verification import (
    Reveal,
    Verification,
    evidence_hash,
    make_reveal,
    verify_finding,
)
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.history import TopicFilter, topic_for
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import Finding, Incident, hex32


@dataclass(frozen=True)
class CheckedFinding:
    """A reveal that verified against the evidence and the chain."""

    incident: Incident
    verification: Verification
    candidates: int  # grants with deliveries of the dataset before the incident was reported


def candidate_grants(
    ledger: Ledger, dataset: str, *, until: datetime | None = None
) -> list[CandidateGrant]:
    """Every grant of `dataset` with a delivery registered on chain (no later than `until`), in
    the order of their first deliveries, with the grantee agency's name and the granted
    fields."""
    deliveries = TopicFilter(
        "LeakRegistry", ("DeliveryRegistered",), 2, topic_for(dataset_id(dataset))
    )
    grant_ids: dict[str, None] = {}
    for event in ledger.history.events([deliveries]):
        if until is not None and event.timestamp > until:
            break  # events come in chain order, and block times never go back
        grant_ids.setdefault(hex32(str(event.args["grantId"])), None)
    names: dict[str, str] = {}
    candidates = []
    for grant_id in grant_ids:
        grant = ledger.grants.get(grant_id)
        if grant.grantee not in names:
            names[grant.grantee] = ledger.consortium.agency(grant.grantee).name
        candidates.append(
            CandidateGrant.from_scope(grant_id, names[grant.grantee], grant.field_scope)
        )
    return candidates


def incident_of(ledger: Ledger, incident_id: int, evidence: Path) -> Incident:
    """The incident, once `evidence` is shown to be the file whose hash it recorded."""
    incident = ledger.leaks.incident(incident_id)
    try:
        found = evidence_hash(evidence)
    except OSError as exc:
        raise FingerprintError(f"cannot read the evidence file {evidence}: {exc}") from None
    if found != incident.evidence_hash:
        raise FingerprintError(
            f"{evidence} is not the evidence of incident {incident_id}: it hashes to {found}, "
            f"the incident recorded {incident.evidence_hash}"
        )
    return incident


def trace_incident(
    ledger: Ledger,
    incident: Incident,
    evidence: Path,
    reference: Reference,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> TraceReport:
    """The evidence traced against every grant with a delivery before the incident's report."""
    if reference.keys.dataset_id != incident.dataset_id:
        raise FingerprintError(
            f"incident {incident.id} is a leak of dataset {incident.dataset_id}, "
            f"not of {reference.keys.dataset}"
        )
    candidates = candidate_grants(ledger, incident.dataset_id, until=incident.reported_at)
    return trace(evidence, reference, candidates, threshold=threshold)


def reveal_grant(
    ledger: Ledger,
    incident: Incident,
    grant_id: str,
    evidence: Path,
    reference: Reference,
    kept: KeptCommitments,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Reveal:
    """The owner's reveal of one grant the evidence attributes: that grant's key, the kept
    preimages of its commitments on chain before the incident, and what its score used."""
    report = trace_incident(ledger, incident, evidence, reference, threshold=threshold)
    candidate = report.candidate(grant_id)
    if candidate.grant_id not in report.attributed:
        raise FingerprintError(
            f"the evidence does not attribute grant {candidate.grant_id} (false-attribution "
            f"probability {candidate.false_attribution_probability:.3g}, threshold "
            f"{threshold:g}): revealing its key would expose it for no finding"
        )
    committed = _commitments_before(ledger, candidate.grant_id, incident.reported_at)
    key = reference.keys.grant(candidate.grant_id).commitment
    preimages = [
        c
        for c in kept.of_grant(candidate.grant_id)
        if c.digest() in committed and c.key_commitment == key
    ]
    if not preimages:
        raise FingerprintError(
            f"none of the delivery commitments of grant {candidate.grant_id} kept in "
            f"{kept.path} is on chain from before incident {incident.id}; a reveal needs one"
        )
    return make_reveal(
        report, candidate.grant_id, reference.keys, reference.schema, preimages, evidence
    )


def check_finding(
    ledger: Ledger,
    incident_id: int,
    evidence: Path,
    reveal: Reveal,
    recorded_score: int | None = None,
) -> CheckedFinding:
    """Re-checks a reveal against the evidence and the chain, and its score against
    `recorded_score` (default: the score the reveal claims); raises FindingRejected."""
    incident = ledger.leaks.incident(incident_id)
    grant_id = reveal.grant.grant_id
    if reveal.dataset_id != incident.dataset_id:
        raise FindingRejected(
            f"the reveal is about dataset {reveal.dataset_id}, incident {incident_id} about "
            f"{incident.dataset_id}"
        )
    grant = ledger.grants.get(grant_id)
    if grant.dataset_id != incident.dataset_id:
        raise FindingRejected(f"grant {grant_id} is a grant of another dataset")
    grantee = ledger.consortium.agency(grant.grantee).name
    on_chain = CandidateGrant.from_scope(grant_id, grantee, grant.field_scope)
    if reveal.grant.grantee != grantee:
        raise FindingRejected(
            f"the reveal names the grantee {reveal.grant.grantee!r}; on chain grant {grant_id} "
            f"is held by {grantee!r}"
        )
    if reveal.grant.fields != on_chain.fields:
        raise FindingRejected(
            f"the reveal says grant {grant_id} covers fields {sorted(reveal.grant.fields)}; "
            f"on chain it covers {sorted(on_chain.fields)}"
        )
    candidates = len(candidate_grants(ledger, incident.dataset_id, until=incident.reported_at))
    if reveal.family != candidates:
        raise FindingRejected(
            f"the reveal corrects for {reveal.family} candidate grants; on chain {candidates} "
            f"grants had deliveries of the dataset when incident {incident_id} was reported"
        )
    verification = verify_finding(
        evidence,
        reveal,
        ledger.leaks.deliveries(grant_id),
        incident,
        reveal.score if recorded_score is None else recorded_score,
    )
    return CheckedFinding(incident, verification, candidates)


def recorded_finding(ledger: Ledger, incident_id: int, grant_id: str, details_hash: str) -> Finding:
    """The incident's finding on `grant_id` under this scheme: the one recorded from this
    reveal (its details hash) if there is one, else the latest."""
    findings = [
        f
        for f in ledger.leaks.findings(incident_id)
        if f.grant_id == hex32(grant_id) and f.method == METHOD
    ]
    if not findings:
        raise FindingRejected(
            f"incident {incident_id} has no {METHOD} finding on grant {hex32(grant_id)}"
        )
    from_reveal = [f for f in findings if f.details_hash == details_hash]
    return (from_reveal or findings)[-1]


def record_finding(
    auditor: Ledger, incident_id: int, evidence: Path, reveal_path: Path
) -> tuple[Finding, CheckedFinding]:
    """An auditor records the finding a reveal supports, once it verifies against the evidence
    and the chain: score and method from the reveal, the reveal file's keccak256 as the
    details hash (so anyone holding the file can tell it is the one recorded)."""
    reveal = Reveal.load(reveal_path)
    checked = check_finding(auditor, incident_id, evidence, reveal)
    finding = auditor.leaks.attribute(
        incident_id,
        reveal.grant.grant_id,
        score=reveal.score,
        method=METHOD,
        details_hash=evidence_hash(reveal_path),  # a file's keccak256, as evidence is hashed
    )
    return finding, checked


def _commitments_before(ledger: Ledger, grant_id: str, until: datetime) -> set[str]:
    return {d.commitment for d in ledger.leaks.deliveries(grant_id) if d.registered_at <= until}
