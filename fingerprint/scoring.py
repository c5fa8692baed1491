"""Where a leaked file is scored: read it, match its rows to the original, read the marks, score
every candidate grant per channel, bound each p-value rigorously, correct for grants x channels
and attribute.

    report = trace(Path("leak.xlsx"), reference, candidates)     # reference: matching.Reference
    print(json.dumps(report.to_json()))

Per grant and channel, the p-value is the probability that a grant whose key was not used to
make the file scores at least as high (exact binomial tails; a Chernoff bound with the exact
moment-generating function for the Tardos score). A grant's false-attribution probability is
its smallest p-value times grants x channels (Bonferroni), so over all innocent grants together
the chance that any is attributed stays below the threshold (1e-9 unless told otherwise).

Cost grows with the leaked rows and the number of grants, never with their product times the
dataset's rows: a grant costs a few AES passes over the matched rows' digests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cityledger.fingerprint import code, prf, pseudonyms
from cityledger.fingerprint.bounds import binomial_log_cdf, binomial_log_sf
from cityledger.fingerprint.errors import FingerprintError
from cityledger.fingerprint.keys import GrantKey
from cityledger.fingerprint.matching import Reference, map_columns, match_rows
from cityledger.fingerprint.omission import omitted
from cityledger.fingerprint.prf import Bytes
from cityledger.fingerprint.reading import LIMITS, LeakedTable, Limits, read_leak
from cityledger.fingerprint.scheme import CHANNELS, PARAMETERS
from cityledger.sdk.models import hex32
from cityledger.sdk.schema import ColumnKind

Ints = npt.NDArray[np.intp]
DEFAULT_THRESHOLD = 1e-9
LN10 = math.log(10)


@dataclass(frozen=True)
class CandidateGrant:
    """A grant whose copies may have leaked: its id, who holds it, the columns it covers."""

    grant_id: str
    grantee: str
    fields: frozenset[int]  # field indices (bits of the grant's fieldScope)

    @classmethod
    def from_scope(cls, grant_id: str, grantee: str, field_scope: int) -> CandidateGrant:
        fields = frozenset(i for i in range(field_scope.bit_length()) if field_scope >> i & 1)
        return cls(hex32(grant_id), grantee, fields)


@dataclass(frozen=True)
class Cells:
    """The read Tardos cells: one entry per (original row, column), in scoring order."""

    row: Ints  # index into Observations.digests
    leaked_row: Ints  # the leaked row the symbol was read from
    field: Ints  # the column's field index
    slot: Ints
    original: npt.NDArray[np.float64]  # the original value (a time in seconds)
    symbol: npt.NDArray[np.int8]
    threshold: npt.NDArray[np.uint32]

    def take(self, which: npt.NDArray[np.bool_] | Ints) -> Cells:
        """The cells a mask or an index array selects."""
        return Cells(*(getattr(self, name)[which] for name in Cells.__dataclass_fields__))


@dataclass(frozen=True)
class PseudonymColumn:
    position: int  # the leaked column's position
    field: int  # the identifier column it holds pseudonyms of
    decoded: pseudonyms.Decoded


@dataclass(frozen=True)
class Observations:
    """What a leaked file shows, independent of any grant's key: the scoring's whole input."""

    digests: Bytes  # one per distinct matched original row
    leaked_rows: Ints  # the leaked row each of those was matched from
    cells: Cells
    pseudonyms: tuple[PseudonymColumn, ...]
    positions: dict[str, int]  # schema column -> the leaked column holding it


@dataclass(frozen=True)
class Channel:
    statistic: float
    observations: int
    log_p: float  # natural log of the p-value bound

    def to_json(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "observations": self.observations,
            "pValue": math.exp(self.log_p),
            "log10PValue": round(self.log_p / LN10, 3),
        }


@dataclass(frozen=True)
class Candidate:
    grant: CandidateGrant
    channels: dict[str, Channel]
    log_fap: float  # natural log of the false-attribution probability

    @property
    def grant_id(self) -> str:
        return self.grant.grant_id

    @property
    def false_attribution_probability(self) -> float:
        return math.exp(self.log_fap)

    @property
    def score(self) -> int:
        """The finding's on-chain score: whole bits of evidence, floor(-log2 FAP)."""
        return math.floor(-self.log_fap / math.log(2))

    def to_json(self) -> dict[str, Any]:
        return {
            "grantId": self.grant.grant_id,
            "grantee": self.grant.grantee,
            "falseAttributionProbability": self.false_attribution_probability,
            "channels": {name: c.to_json() for name, c in self.channels.items()},
        }


@dataclass(frozen=True)
class TraceReport:
    dataset: str
    rows: int  # rows read from the leaked file
    matched_rows: int  # distinct original rows they matched
    candidates: tuple[Candidate, ...]  # most likely source first
    attributed: tuple[str, ...]  # grant ids under the threshold
    threshold: float
    observations: Observations = field(repr=False, compare=False)

    def candidate(self, grant_id: str) -> Candidate:
        for candidate in self.candidates:
            if candidate.grant_id == hex32(grant_id):
                return candidate
        raise FingerprintError(f"grant {grant_id} was not a candidate of this trace")

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "matchedRows": self.matched_rows,
            "candidates": [c.to_json() for c in self.candidates],
            "attributed": list(self.attributed),
        }


def trace(
    leak: Path | LeakedTable,
    reference: Reference,
    candidates: Sequence[CandidateGrant],
    *,
    dataset: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    limits: Limits = LIMITS,
) -> TraceReport:
    """Scores a leaked file against every candidate grant and attributes those under
    `threshold`. The candidates are all grants with deliveries of the dataset: the correction
    counts them, so leaving any out would understate the false-attribution probability."""
    if len({c.grant_id for c in candidates}) != len(candidates):
        raise FingerprintError("a grant appears twice among the candidates")
    leaked = leak if isinstance(leak, LeakedTable) else read_leak(leak, limits)
    keys = [reference.keys.grant(c.grant_id) for c in candidates]
    observations = observe(leaked, reference, keys)
    ranked = sorted(
        score(observations, list(zip(candidates, keys, strict=True)), family=len(candidates)),
        key=lambda c: (c.log_fap, c.grant_id),
    )
    return TraceReport(
        dataset=dataset or reference.keys.dataset,
        rows=leaked.rows,
        matched_rows=len(observations.digests),
        candidates=tuple(ranked),
        attributed=tuple(c.grant_id for c in ranked if c.log_fap < math.log(threshold)),
        threshold=threshold,
        observations=observations,
    )


def observe(leaked: LeakedTable, reference: Reference, grants: Sequence[GrantKey]) -> Observations:
    """Maps and matches the leaked file, and reads its marks against the original."""
    schema = reference.schema
    mapping = map_columns(leaked, reference)
    matches = match_rows(leaked, mapping, reference, grants)
    originals = np.unique(matches.original_rows)
    # Rows with equal keys share a digest, and so their marks: each digest counts once.
    digests, of_original = np.unique(reference.digests(originals), axis=0, return_inverse=True)
    row_of_match = of_original.reshape(-1)[np.searchsorted(originals, matches.original_rows)]
    _, first = np.unique(row_of_match, return_index=True)

    slots = code.slots(schema)
    parts: list[Cells] = []
    for position, name in sorted(mapping.columns.items()):
        if name not in slots:
            continue
        spec = schema.column(name)
        column = leaked.columns[position]
        seen = column.numbers if spec.kind is ColumnKind.NUMERIC else column.seconds
        original = reference.quantities(name)[matches.original_rows]
        read = code.symbols(seen[matches.leaked_rows], original, float(spec.step))
        count = len(read)
        parts.append(
            Cells(
                row_of_match,
                matches.leaked_rows,
                np.full(count, schema.field_index(name)),
                np.full(count, slots[name]),
                original,
                read,
                np.zeros(count, dtype=np.uint32),
            )
        )
    cells = _distinct_cells(parts, len(schema.columns))
    where = prf.Cells.of(cells.row, cells.slot, len(digests))
    cells = replace(cells, threshold=code.thresholds(reference.keys.code, digests, where))
    return Observations(
        digests=digests,
        leaked_rows=matches.leaked_rows[first],
        cells=cells,
        pseudonyms=tuple(
            PseudonymColumn(
                position,
                schema.field_index(mapping.columns[position]),
                pseudonyms.decode(leaked.columns[position].texts),
            )
            for position in sorted(mapping.pseudonymous)
        ),
        positions={name: position for position, name in mapping.columns.items()},
    )


def _distinct_cells(parts: list[Cells], width: int) -> Cells:
    """One entry per (original row, column) whose symbol was read; a cell that several leaked
    rows give different symbols is left out. Ordered by row, then column."""
    empty = np.zeros(0, dtype=np.intp)
    merged = Cells(
        empty, empty, empty, empty, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.uint32)
    )
    if parts:
        merged = Cells(
            *(np.concatenate([getattr(p, n) for p in parts]) for n in Cells.__dataclass_fields__)
        )
    merged = merged.take(merged.symbol != code.ERASED)
    if not len(merged.row):
        return merged
    key = merged.row * width + merged.field
    order = np.lexsort((merged.leaked_row, key))
    merged, key = merged.take(order), key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    agreed = np.minimum.reduceat(merged.symbol, starts) == np.maximum.reduceat(
        merged.symbol, starts
    )
    keep = np.zeros(len(key), dtype=np.bool_)
    keep[starts[agreed]] = True
    return merged.take(keep)


def score(
    observations: Observations,
    grants: Sequence[tuple[CandidateGrant, GrantKey]],
    *,
    family: int,
) -> list[Candidate]:
    """Each grant's channels and false-attribution probability, corrected for `family` grants
    times the channels. The same function rescores one grant from revealed material."""
    cells = observations.cells
    rows = len(observations.digests)
    omitted_counts = [int(omitted(key, observations.digests).sum()) for _, key in grants]
    omission_log_cdf = binomial_log_cdf(
        rows, PARAMETERS.omission_rate, max(omitted_counts, default=0)
    )
    # Grants granted the same columns share the cells they are scored on, and so the law of
    # an innocent's score.
    scorers: dict[frozenset[int], tuple[prf.Cells, code.Thresholds, code.SymmetricScore]] = {}
    correction = math.log(max(family, 1) * len(CHANNELS))
    out = []
    for (grant, key), omitted_count in zip(grants, omitted_counts, strict=True):
        if grant.fields not in scorers:
            scope = np.isin(cells.field, sorted(grant.fields))
            scorers[grant.fields] = (
                prf.Cells.of(cells.row[scope], cells.slot[scope], rows),
                cells.threshold[scope],
                code.SymmetricScore.of(cells.threshold[scope], cells.symbol[scope]),
            )
        where, limits, scorer = scorers[grant.fields]
        bits = code.bits(key, observations.digests, where, limits)
        tardos = scorer.score(bits)
        channels = {
            "pseudonyms": _pseudonym_channel(observations, grant, key),
            "tardos": Channel(
                round(tardos, 3), len(limits), float(scorer.log_p_values(np.array([tardos]))[0])
            ),
            "omission": Channel(omitted_count, rows, float(omission_log_cdf[omitted_count])),
        }
        log_fap = min(0.0, correction + min(c.log_p for c in channels.values()))
        out.append(Candidate(grant, channels, log_fap))
    return out


def _pseudonym_channel(observations: Observations, grant: CandidateGrant, key: GrantKey) -> Channel:
    """Valid pseudonyms among the distinct values carrying the grant's tag, in columns it was
    granted: under "not made with this key" each is valid with probability 2^-32."""
    tagged = [
        column.decoded.blocks[column.decoded.tags == key.tag]
        for column in observations.pseudonyms
        if column.field in grant.fields
    ]
    blocks = np.concatenate([np.zeros((0, 16), np.uint8), *tagged])
    if len(blocks) > 1:
        # One block written twice ("P0..." and "po...", or in two columns) is one trial: its
        # validity is one event.
        blocks = np.unique(blocks, axis=0)
    valid = int(pseudonyms.open_blocks(key, blocks)[0].sum())
    log_p = binomial_log_sf(len(blocks), valid, PARAMETERS.forgery_probability)
    return Channel(valid, len(blocks), log_p)
