"""Delivery commitments and findings a third party can re-check: the honest finding verifies
from the evidence, the reveal and the chain; key material that does not match its commitment,
an altered evidence file or a wrong score are refused."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from eth_utils import keccak
from fingerprint_helpers import World, grant_id, write_csv

from cityledger.fingerprint.commitment import DeliveryCommitment, file_hash
from cityledger.fingerprint.errors import FindingRejected, FingerprintError
from cityledger.fingerprint.scheme import METHOD
from cityledger.fingerprint.scoring import TraceReport, trace
from cityledger.fingerprint.verification import (
    Reveal,
    evidence_hash,
    make_reveal,
    verify_finding,
)
from cityledger.testnet.demo_data import SCHEMA, sample

LEAKER = 7
DELIVERED = datetime(2026, 11, 1, tzinfo=UTC)
REPORTED = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass(frozen=True)
class OnChainDelivery:
    commitment: str
    registered_at: datetime


@dataclass(frozen=True)
class OnChainIncident:
    evidence_hash: str
    reported_at: datetime


@dataclass(frozen=True)
class Case:
    commitment: DeliveryCommitment
    evidence: Path
    report: TraceReport
    reveal: Reveal
    deliveries: list[OnChainDelivery]
    incident: OnChainIncident


@pytest.fixture(scope="module")
def case(world: World, tmp_path_factory: pytest.TempPathFactory) -> Case:
    folder = tmp_path_factory.mktemp("finding")
    copy = world.copy(LEAKER)
    pq.write_table(copy, folder / "delivered.parquet")
    commitment = DeliveryCommitment.of(
        world.keys,
        grant_id(LEAKER),
        SCHEMA,
        file_hash=file_hash(folder / "delivered.parquet"),
        rows=copy.num_rows,
        columns=copy.column_names,
    )
    evidence = write_csv(sample(copy, 2_000, seed=12), folder / "leak.csv")
    report = world.trace(evidence)
    reveal = make_reveal(report, grant_id(LEAKER), world.keys, SCHEMA, [commitment], evidence)
    reveal.save(folder / "reveal.json")
    return Case(
        commitment,
        evidence,
        report,
        Reveal.load(folder / "reveal.json"),
        [OnChainDelivery(commitment.digest(), DELIVERED)],
        OnChainIncident(evidence_hash(evidence), REPORTED),
    )


def test_the_commitment_is_a_hash_of_canonical_json(case: Case) -> None:
    commitment = case.commitment
    assert commitment.digest() == "0x" + keccak(text=commitment.canonical_json()).hex()
    assert len(METHOD.encode("ascii")) <= 32
    again = DeliveryCommitment.from_json_object(json.loads(commitment.canonical_json()))
    assert again == commitment and again.digest() == commitment.digest()
    for change in ({"rows": commitment.rows - 1}, {"file_hash": "0x" + "00" * 32}):
        assert replace(commitment, **change).digest() != commitment.digest()
    with pytest.raises(FingerprintError, match="canonical form"):
        DeliveryCommitment.from_json_object(
            {**commitment.to_json_object(), "fileHash": "0x" + commitment.file_hash[2:].upper()}
        )


def test_the_honest_finding_verifies(case: Case, world: World) -> None:
    recorded = case.report.candidate(grant_id(LEAKER)).score
    assert recorded > 30  # 1e-9 is 29.9 bits
    verified = verify_finding(case.evidence, case.reveal, case.deliveries, case.incident, recorded)
    assert verified.deliveries == 1
    assert verified.candidate.false_attribution_probability < 1e-9
    assert verified.candidate.channels == case.report.candidate(grant_id(LEAKER)).channels


def test_the_reveal_holds_no_other_key(case: Case, world: World) -> None:
    text = json.dumps(case.reveal.to_json_object())
    assert case.reveal.grant_key == "0x" + world.keys.grant(grant_id(LEAKER)).key.hex()
    assert world.keys.secret.hex() not in text
    for key in (world.keys.code.row, world.keys.code.bias, world.keys.code.identifier):
        assert key.hex() not in text
    for other in (0, 1, 2, 8, 999):
        assert world.keys.grant(grant_id(other)).key.hex() not in text


def test_key_material_that_does_not_match_its_commitment_is_refused(
    case: Case, world: World
) -> None:
    score = case.reveal.score
    other_key = "0x" + world.keys.grant(grant_id(LEAKER + 1)).key.hex()
    with pytest.raises(FindingRejected, match="does not match its delivery commitment"):
        verify_finding(
            case.evidence,
            replace(case.reveal, grant_key=other_key),
            case.deliveries,
            case.incident,
            score,
        )
    # The other grant's key with a commitment to it that the chain does not hold.
    forged = replace(
        case.commitment, key_commitment=world.keys.grant(grant_id(LEAKER + 1)).commitment
    )
    with pytest.raises(FindingRejected, match="not on chain for this grant before the incident"):
        verify_finding(
            case.evidence,
            replace(case.reveal, grant_key=other_key, deliveries=(forged,)),
            case.deliveries,
            case.incident,
            score,
        )
    late = [OnChainDelivery(case.commitment.digest(), datetime(2026, 12, 1, tzinfo=UTC))]
    with pytest.raises(FindingRejected, match="before the incident"):
        verify_finding(case.evidence, case.reveal, late, case.incident, score)


def test_an_altered_evidence_file_is_refused(case: Case, tmp_path: Path) -> None:
    text = case.evidence.read_text()
    altered = tmp_path / "leak.csv"
    altered.write_text(text.replace("negative", "positive", 1))
    with pytest.raises(FindingRejected, match="evidence file is not the one the incident recorded"):
        verify_finding(altered, case.reveal, case.deliveries, case.incident, case.reveal.score)


def test_a_reveal_or_score_that_does_not_fit_the_evidence_is_refused(case: Case) -> None:
    with pytest.raises(FindingRejected, match="rescoring gives"):
        verify_finding(
            case.evidence, case.reveal, case.deliveries, case.incident, case.reveal.score + 1
        )
    row, leaked, field, original, bias = case.reveal.cells[0]
    moved = ((row, leaked, field, original + 1000.0, bias), *case.reveal.cells[1:])
    with pytest.raises(FindingRejected, match="do not fit the evidence"):
        verify_finding(
            case.evidence,
            replace(case.reveal, cells=moved),
            case.deliveries,
            case.incident,
            case.reveal.score,
        )
    padded = replace(
        case.reveal, row_digests=(*case.reveal.row_digests[:-1], case.reveal.row_digests[0])
    )
    with pytest.raises(FindingRejected, match="names an original row twice"):
        verify_finding(case.evidence, padded, case.deliveries, case.incident, case.reveal.score)


def test_a_reveal_file_that_is_not_one_is_refused(tmp_path: Path) -> None:
    for text in ("", "[]", "{}", "[" * 10_000, '{"format": "cityledger-reveal/1"}'):
        (tmp_path / "reveal.json").write_text(text)
        with pytest.raises(FindingRejected, match="reveal"):
            Reveal.load(tmp_path / "reveal.json")


def test_a_grant_without_the_ids_is_rescored_without_them(case: Case, world: World) -> None:
    candidates = [
        replace(c, fields=c.fields - {0}) if c.grant_id == grant_id(LEAKER) else c
        for c in world.candidates
    ]
    report = trace(case.evidence, world.reference, candidates)
    reveal = make_reveal(
        report, grant_id(LEAKER), world.keys, SCHEMA, [case.commitment], case.evidence
    )
    assert reveal.pseudonym_columns == () and "id_hash" not in reveal.positions
    verified = verify_finding(case.evidence, reveal, case.deliveries, case.incident, reveal.score)
    assert verified.candidate.channels["pseudonyms"].observations == 0
    assert verified.candidate.false_attribution_probability < 1e-9
