"""Findings anyone can re-check, without the owner's secret.

The owner writes a reveal for one accused grant (`make_reveal`): the grant's key, the preimages
of the delivery commitments registered on chain for it, and the material its score used: which
leaked rows matched which original rows (by keyed row digest), and for each read Tardos cell the
original value and the cell's bias. A verifier (`verify_finding`) checks, from the evidence file,
the reveal and what the chain holds:

1. the evidence file is the one whose hash the incident recorded;
2. the revealed key hashes to the key commitment of deliveries registered for that grant on
   chain before the incident was reported, under this scheme, parameters and schema;
3. rescoring the evidence with that key alone (its bits, pseudonym checks and omitted rows
   recomputed, the symbols read from the evidence against the revealed originals) gives the
   score the finding recorded.

The reveal holds no other grant's key, no code key and no secret: HKDF's outputs are
independent. What a verifier cannot rule out: the owner held the data and every key, so it
could have made the file itself; and the row digests, biases and originals are the owner's
word (the verifier sees that they fit the evidence, not that they are the dataset's). Only valid
pseudonyms are evidence the verifier checks end to end: they can only be made with the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from eth_utils import keccak

from cityledger.fingerprint import code, pseudonyms
from cityledger.fingerprint.commitment import DeliveryCommitment
from cityledger.fingerprint.errors import FindingRejected, FingerprintError, LeakFileError
from cityledger.fingerprint.keys import DatasetKeys, GrantKey
from cityledger.fingerprint.reading import LIMITS, LeakedTable, json_depth, read_leak
from cityledger.fingerprint.scheme import NAME, PARAMETERS, VERSION
from cityledger.fingerprint.scoring import (
    Candidate,
    CandidateGrant,
    Cells,
    Observations,
    PseudonymColumn,
    TraceReport,
    score,
)
from cityledger.sdk.models import hex32
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema

FORMAT = "cityledger-reveal/1"
MAX_REVEAL_BYTES = 256 << 20


class RegisteredDelivery(Protocol):
    """A delivery as the chain records it (cityledger.sdk.models.Delivery fits)."""

    @property
    def commitment(self) -> str: ...

    @property
    def registered_at(self) -> datetime: ...


class ReportedIncident(Protocol):
    """An incident as the chain records it (cityledger.sdk.models.Incident fits)."""

    @property
    def evidence_hash(self) -> str: ...

    @property
    def reported_at(self) -> datetime: ...


@dataclass(frozen=True)
class Reveal:
    dataset_id: str
    grant: CandidateGrant
    grant_key: str  # 0x-hex
    deliveries: tuple[DeliveryCommitment, ...]
    schema: DatasetSchema
    evidence_hash: str  # keccak256 of the evidence file, as the incident records it
    family: int  # how many grants the trace scored (the correction's factor)
    positions: dict[str, int]  # schema column -> its column in the evidence
    row_digests: tuple[str, ...]  # matched original rows, by keyed digest (hex)
    leaked_rows: tuple[int, ...]  # ... and the evidence row each matched
    cells: tuple[tuple[int, int, int, float, int], ...]  # row, leaked row, field, original, T
    pseudonym_columns: tuple[tuple[int, int], ...]  # evidence column, field
    score: int  # the owner's result: whole bits of evidence

    def to_json_object(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "datasetId": self.dataset_id,
            "grantId": self.grant.grant_id,
            "grantee": self.grant.grantee,
            "fields": sorted(self.grant.fields),
            "grantKey": self.grant_key,
            "deliveries": [d.to_json_object() for d in self.deliveries],
            "schema": self.schema.to_json_object(),
            "evidenceHash": self.evidence_hash,
            "family": self.family,
            "positions": self.positions,
            "rowDigests": list(self.row_digests),
            "leakedRows": list(self.leaked_rows),
            "cells": [list(c) for c in self.cells],
            "pseudonymColumns": [list(c) for c in self.pseudonym_columns],
            "score": self.score,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json_object(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> Reveal:
        try:
            if path.stat().st_size > MAX_REVEAL_BYTES:
                raise FindingRejected(f"{path} is larger than a reveal file may be")
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FindingRejected(f"cannot read the reveal file {path} ({exc})") from None
        if json_depth(text) > 8:
            raise FindingRejected(f"{path} nests deeper than a reveal file does")
        try:
            return cls.from_json_object(json.loads(text))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, FingerprintError) as exc:
            raise FindingRejected(f"{path} is not a valid reveal file ({exc})") from None

    @classmethod
    def from_json_object(cls, obj: Any) -> Reveal:
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError(f"format is not {FORMAT}")
        return cls(
            dataset_id=hex32(obj["datasetId"]),
            grant=CandidateGrant(
                hex32(obj["grantId"]), str(obj["grantee"]), frozenset(int(f) for f in obj["fields"])
            ),
            grant_key=str(obj["grantKey"]),
            deliveries=tuple(DeliveryCommitment.from_json_object(d) for d in obj["deliveries"]),
            schema=DatasetSchema.from_json_object(obj["schema"]),
            evidence_hash=hex32(obj["evidenceHash"]),
            family=int(obj["family"]),
            positions={str(k): int(v) for k, v in obj["positions"].items()},
            row_digests=tuple(str(d) for d in obj["rowDigests"]),
            leaked_rows=tuple(int(r) for r in obj["leakedRows"]),
            cells=tuple(
                (int(c[0]), int(c[1]), int(c[2]), float(c[3]), int(c[4])) for c in obj["cells"]
            ),
            pseudonym_columns=tuple((int(c[0]), int(c[1])) for c in obj["pseudonymColumns"]),
            score=int(obj["score"]),
        )


@dataclass(frozen=True)
class Verification:
    """A finding that verified: the rescored grant, and how many committed deliveries its key
    matched."""

    candidate: Candidate
    deliveries: int


def evidence_hash(evidence: Path) -> str:
    """0x-hex keccak256 of the evidence file, as LeakRegistry.reportIncident records it."""
    return "0x" + keccak(evidence.read_bytes()).hex()


def make_reveal(
    report: TraceReport,
    grant_id: str,
    keys: DatasetKeys,
    schema: DatasetSchema,
    deliveries: Sequence[DeliveryCommitment],
    evidence: Path,
) -> Reveal:
    """The reveal for one grant of a trace: only that grant's key and the material its score
    used. `deliveries` are the commitment preimages the owner kept for the grant."""
    candidate = report.candidate(grant_id)
    grant = keys.grant(candidate.grant_id)
    if not deliveries or any(d.key_commitment != grant.commitment for d in deliveries):
        raise FingerprintError("each revealed delivery must commit to this grant's key")
    observations = report.observations
    cells = observations.cells.take(
        np.isin(observations.cells.field, sorted(candidate.grant.fields))
    )
    used = {schema.columns[f].name for f in np.unique(cells.field).tolist()}
    read = [c for c in observations.pseudonyms if c.field in candidate.grant.fields]
    used |= {schema.columns[c.field].name for c in read}
    return Reveal(
        dataset_id=keys.dataset_id,
        grant=candidate.grant,
        grant_key="0x" + grant.key.hex(),
        deliveries=tuple(deliveries),
        schema=schema,
        evidence_hash=evidence_hash(evidence),
        family=len(report.candidates),
        positions={name: p for name, p in observations.positions.items() if name in used},
        row_digests=tuple(d.tobytes().hex() for d in observations.digests),
        leaked_rows=tuple(observations.leaked_rows.tolist()),
        cells=tuple(
            zip(
                cells.row.tolist(),
                cells.leaked_row.tolist(),
                cells.field.tolist(),
                cells.original.tolist(),
                cells.threshold.tolist(),
                strict=True,
            )
        ),
        pseudonym_columns=tuple((c.position, c.field) for c in read),
        score=candidate.score,
    )


def verify_finding(
    evidence: Path,
    reveal: Reveal,
    deliveries: Sequence[RegisteredDelivery],
    incident: ReportedIncident,
    recorded_score: int,
) -> Verification:
    """Re-checks a finding from the evidence file, the reveal, the accused grant's deliveries as
    the chain records them, and the incident; raises FindingRejected saying what failed."""
    if evidence_hash(evidence) != hex32(incident.evidence_hash):
        raise FindingRejected(
            "the evidence file is not the one the incident recorded (hash differs)"
        )
    if reveal.evidence_hash != hex32(incident.evidence_hash):
        raise FindingRejected("the reveal was made for other evidence than the incident's")
    try:
        key = GrantKey.from_hex(reveal.grant.grant_id, reveal.grant_key)
    except FingerprintError as exc:
        raise FindingRejected(str(exc)) from None
    matched = _check_deliveries(reveal, key, deliveries, incident)
    try:
        leaked = read_leak(evidence, LIMITS)
    except LeakFileError as exc:
        raise FindingRejected(f"the evidence file cannot be read: {exc}") from None
    observations = _observations(reveal, leaked)
    (candidate,) = score(observations, [(reveal.grant, key)], family=reveal.family)
    if candidate.score != recorded_score:
        raise FindingRejected(
            f"rescoring gives {candidate.score} bits of evidence "
            f"(false-attribution probability {candidate.false_attribution_probability:.3g}); "
            f"the finding records {recorded_score}"
        )
    return Verification(candidate, matched)


def _check_deliveries(
    reveal: Reveal,
    key: GrantKey,
    deliveries: Sequence[RegisteredDelivery],
    incident: ReportedIncident,
) -> int:
    before = {hex32(d.commitment) for d in deliveries if d.registered_at <= incident.reported_at}
    if not reveal.deliveries:
        raise FindingRejected("the reveal shows no delivery commitment")
    for delivery in reveal.deliveries:
        if delivery.key_commitment != key.commitment:
            raise FindingRejected("the revealed grant key does not match its delivery commitment")
        if delivery.grant_id != reveal.grant.grant_id or delivery.dataset_id != reveal.dataset_id:
            raise FindingRejected("a revealed delivery is of another grant or dataset")
        if (delivery.scheme, delivery.version, delivery.parameters) != (
            NAME,
            VERSION,
            PARAMETERS.to_json_object(),
        ):
            raise FindingRejected(f"a revealed delivery used another scheme ({delivery.scheme})")
        if delivery.schema_hash != reveal.schema.schema_hash:
            raise FindingRejected("the revealed schema is not the one the delivery committed to")
        if delivery.digest() not in before:
            raise FindingRejected(
                "a revealed delivery commitment is not on chain for this grant "
                "before the incident was reported"
            )
    return len(reveal.deliveries)


def _observations(reveal: Reveal, leaked: LeakedTable) -> Observations:
    """The scoring's input rebuilt from the reveal, with every symbol read from the evidence."""
    schema, slots = reveal.schema, code.slots(reveal.schema)
    try:
        digests = np.frombuffer(b"".join(bytes.fromhex(d) for d in reveal.row_digests), np.uint8)
        digests = digests.reshape(len(reveal.row_digests), -1)
    except ValueError:
        raise FindingRejected("the reveal's row digests are not hex of equal length") from None
    if len(reveal.row_digests) and digests.shape[1] != 15:
        raise FindingRejected("the reveal's row digests are not 15 bytes each")
    if len(set(reveal.row_digests)) != len(reveal.row_digests):
        raise FindingRejected("the reveal names an original row twice")
    if any(not 0 <= r < leaked.rows for r in reveal.leaked_rows):
        raise FindingRejected("the reveal names rows the evidence does not have")
    raw = np.array(reveal.cells, dtype=np.float64).reshape(-1, 5)
    rows, leaked_rows, fields = (raw[:, i].astype(np.intp) for i in range(3))
    original, limits = raw[:, 3], raw[:, 4].astype(np.int64)
    if (
        (rows < 0) | (rows >= len(digests)) | (leaked_rows < 0) | (leaked_rows >= leaked.rows)
    ).any():
        raise FindingRejected("a revealed cell points outside the rows")
    if ((limits < 1) | (limits >= 1 << 32)).any():
        raise FindingRejected("a revealed bias is out of range")
    if len(np.unique(rows * len(schema.columns) + fields)) != len(rows):
        raise FindingRejected("the reveal names a cell twice")
    symbols = np.zeros(len(rows), dtype=np.int8)
    cell_slots = np.zeros(len(rows), dtype=np.intp)
    for field in np.unique(fields).tolist():
        spec = _column(schema, field, reveal)
        if spec.name not in slots:
            raise FindingRejected(f"column {spec.name!r} carries no code marks")
        here = fields == field
        column = leaked.columns[_position(reveal, spec.name, leaked)]
        seen = column.numbers if spec.kind is ColumnKind.NUMERIC else column.seconds
        symbols[here] = code.symbols(seen[leaked_rows[here]], original[here], float(spec.step))
        cell_slots[here] = slots[spec.name]
    if (symbols == code.ERASED).any():
        raise FindingRejected("revealed original values do not fit the evidence's values")
    columns = []
    for position, field in reveal.pseudonym_columns:
        spec = _column(schema, field, reveal)
        if spec.kind is not ColumnKind.IDENTIFIER or not 0 <= position < len(leaked.columns):
            raise FindingRejected("a revealed pseudonym column is not an identifier column")
        columns.append(
            PseudonymColumn(position, field, pseudonyms.decode(leaked.columns[position].texts))
        )
    return Observations(
        digests=digests,
        leaked_rows=np.array(reveal.leaked_rows, dtype=np.intp),
        cells=Cells(
            rows, leaked_rows, fields, cell_slots, original, symbols, limits.astype(np.uint32)
        ),
        pseudonyms=tuple(columns),
        positions=dict(reveal.positions),
    )


def _column(schema: DatasetSchema, field: int, reveal: Reveal) -> Column:
    if not 0 <= field < len(schema.columns) or field not in reveal.grant.fields:
        raise FindingRejected(f"field {field} is not a column the grant covers")
    return schema.columns[field]


def _position(reveal: Reveal, name: str, leaked: LeakedTable) -> int:
    try:
        position = reveal.positions[name]
    except KeyError:
        raise FindingRejected(
            f"the reveal does not say which evidence column holds {name!r}"
        ) from None
    if not 0 <= position < len(leaked.columns):
        raise FindingRejected(f"the evidence has no column {position}")
    return position
