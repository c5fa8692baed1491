"""Leaked rows matched to the owner's original rows by content.

Detection is non-blind: the owner holds the original data. A leaked file's columns are mapped
to the schema's by name where a header matches and its values fit, otherwise by content alone
(pseudonyms by their shape, identifiers and labels by the values the original holds, numbers
and times by their range). A leaked row then matches the one original row it agrees with in
every mapped column: equal identifiers (a pseudonym counts as the identifier it decrypts to),
equal labels, numbers and times within `tolerance` precisions. Candidates come from an
identifier when the file keeps one, otherwise from a grid index over quantised numbers and
times. Row order, dropped, renamed or reordered columns and junk rows do not matter; a row
that agrees with several originals is left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cityledger.fingerprint import columns, pseudonyms
from cityledger.fingerprint.errors import FingerprintError
from cityledger.fingerprint.keys import DatasetKeys, GrantKey
from cityledger.fingerprint.prf import Bytes
from cityledger.fingerprint.reading import LeakedColumn, LeakedTable, number_of, seconds_of
from cityledger.fingerprint.rows import row_digests
from cityledger.fingerprint.scheme import PARAMETERS
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema

Ints = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]
SAMPLE = 500  # values of a leaked column looked at to map it
FIT = 0.5  # share of sampled values that must fit a column for the two to be mapped
MAX_CANDIDATES = 1000  # a leaked row agreeing with more originals than this is left out
UNKNOWN, MISSING = -1, -2  # codes of a leaked label the original lacks, and of an empty cell
_QUANTITIES = (ColumnKind.NUMERIC, ColumnKind.TIMESTAMP)


class Reference:
    """The owner's original table, prepared once for matching any number of leaked files."""

    def __init__(self, schema: DatasetSchema, keys: DatasetKeys, table: pa.Table) -> None:
        missing = [name for name in schema.names if name not in table.column_names]
        if missing:
            raise FingerprintError(f"the original data lacks the schema's columns {missing}")
        self.schema = schema
        self.keys = keys
        self.table = table.select(list(schema.names))
        self.rows = table.num_rows

    @classmethod
    def load(cls, path: Path, schema: DatasetSchema, keys: DatasetKeys) -> Reference:
        """The original data from a Parquet file, or a CSV file (by its suffix)."""
        try:
            if path.suffix.lower() == ".csv":
                options = pa_csv.ConvertOptions(include_columns=list(schema.names))
                return cls(schema, keys, pa_csv.read_csv(path, convert_options=options))
            return cls(schema, keys, pq.read_table(path, columns=list(schema.names)))
        except (pa.ArrowException, OSError) as exc:
            raise FingerprintError(f"cannot read the original data {path}: {exc}") from None

    def quantities(self, name: str) -> Floats:
        """A numeric column's values, or a time column's in seconds."""
        return self._quantities[name]

    @cached_property
    def _quantities(self) -> dict[str, Floats]:
        return {
            c.name: columns.numbers(self.table.column(c.name), c.name)
            if c.kind is ColumnKind.NUMERIC
            else columns.seconds(self.table.column(c.name), c.name)
            for c in self.schema.columns
            if c.kind in _QUANTITIES
        }

    def codes(self, name: str) -> tuple[npt.NDArray[np.int64], dict[str, int]]:
        """A label column as a code per row (MISSING for null) and the code of each value."""
        return self._codes[name]

    @cached_property
    def _codes(self) -> dict[str, tuple[npt.NDArray[np.int64], dict[str, int]]]:
        out = {}
        for c in self.schema.columns:
            if c.kind in _QUANTITIES:
                continue
            encoded = pc.dictionary_encode(
                self.table.column(c.name).cast(pa.string())
            ).combine_chunks()
            indices = pc.fill_null(encoded.indices.cast(pa.int64()), MISSING)
            values = columns.texts(encoded.dictionary)
            out[c.name] = (
                np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64),
                {v: i for i, v in enumerate(values) if v is not None},
            )
        return out

    @cached_property
    def identifier_digests(self) -> dict[bytes, tuple[int, int]]:
        """Digest -> (field index, code) of every value of every markable identifier column:
        what a valid pseudonym decrypts to, looked up in one step."""
        table: dict[bytes, tuple[int, int]] = {}
        for c in self.schema.columns:
            if c.kind is ColumnKind.IDENTIFIER and c.markable:
                field = self.schema.field_index(c.name)
                values = list(self.codes(c.name)[1])
                digests = pseudonyms.identifier_digests(self.keys.code, field, values)
                for code, digest in enumerate(digests):
                    table[digest.tobytes()] = (field, code)
        return table

    def digests(self, rows: Ints) -> Bytes:
        """Row digests of the given original rows."""
        return row_digests(self.schema, self.keys.code, self.table.take(pa.array(rows)))

    def range_of(self, name: str) -> tuple[float, float]:
        """The smallest and largest value of a quantity column (an empty range if all null)."""
        return self._ranges[name]

    @cached_property
    def _ranges(self) -> dict[str, tuple[float, float]]:
        return {
            name: (float(np.nanmin(v)), float(np.nanmax(v)))
            if np.isfinite(v).any()
            else (0.0, -1.0)
            for name, v in self._quantities.items()
        }


@dataclass(frozen=True)
class Mapping:
    """Which leaked column holds which schema column, and how."""

    columns: dict[int, str]  # leaked column position -> schema column name
    pseudonymous: frozenset[int]  # positions whose values are pseudonyms


@dataclass(frozen=True)
class Matches:
    leaked_rows: Ints  # each matched leaked row ...
    original_rows: Ints  # ... and the one original row it agrees with


def map_columns(leaked: LeakedTable, reference: Reference) -> Mapping:
    """Maps leaked columns to schema columns. A leaked column may hold a schema column when at
    least half of its sampled values fit it; among those pairs, the best fits are taken first,
    a header equal to the column's name counting for half a fit."""
    fits: list[tuple[float, int, str]] = []
    shaped: set[int] = set()
    for position, column in enumerate(leaked.columns):
        sample = [v for v in column.texts if v is not None][:SAMPLE]
        if not sample:
            continue
        pseudonym_share = len(pseudonyms.decode(sample).values) / len(set(sample))
        for spec in reference.schema.columns:
            fit = _fit(column, sample, spec, reference)
            if spec.kind is ColumnKind.IDENTIFIER and spec.markable and pseudonym_share > fit:
                fit = pseudonym_share
                if fit >= FIT:
                    shaped.add(position)
            if fit >= FIT:
                named = _plain(column.header) == _plain(spec.name)
                fits.append((fit + (0.5 if named else 0.0), -position, spec.name))
    taken: dict[int, str] = {}
    for _, negative_position, name in sorted(fits, reverse=True):
        if -negative_position not in taken and name not in taken.values():
            taken[-negative_position] = name
    return Mapping(taken, frozenset(p for p in shaped if p in taken))


def _fit(column: LeakedColumn, sample: list[str], spec: Column, reference: Reference) -> float:
    """The share of a column's values that could be values of `spec`."""
    if spec.kind in _QUANTITIES:
        cells = [v for v in column.values if v is not None][:SAMPLE]
        low, high = reference.range_of(spec.name)
        low, high = low - float(spec.step), high + float(spec.step)
        readings = (
            [[number_of(v) for v in cells]]
            if spec.kind is ColumnKind.NUMERIC
            else [[seconds_of(v, day_first) for v in cells] for day_first in (False, True)]
        )
        return max(sum(low <= x <= high for x in values) / len(cells) for values in readings)
    known = reference.codes(spec.name)[1]
    return sum(v in known for v in sample) / len(sample)


def _plain(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.casefold())


def match_rows(
    leaked: LeakedTable, mapping: Mapping, reference: Reference, grants: Sequence[GrantKey]
) -> Matches:
    """Each leaked row that agrees with exactly one original row, and that row. `grants` are
    the keys pseudonyms may have been made with."""
    labels = {
        position: _leaked_codes(
            leaked.columns[position], name, position in mapping.pseudonymous, reference, grants
        )
        for position, name in mapping.columns.items()
        if reference.schema.column(name).kind not in _QUANTITIES
    }
    quantities = {
        position: _leaked_quantities(leaked.columns[position], reference.schema.column(name))
        for position, name in mapping.columns.items()
        if reference.schema.column(name).kind in _QUANTITIES
    }
    identifiers = [
        p
        for p in labels
        if reference.schema.column(mapping.columns[p]).kind is ColumnKind.IDENTIFIER
    ]
    # Candidates by identifier where the row's identifier is known, by grid for the others.
    lefts, rights = [np.zeros(0, np.intp)], [np.zeros(0, np.intp)]
    unidentified = np.arange(leaked.rows)
    if identifiers:
        position = max(identifiers, key=lambda p: int((labels[p] >= 0).sum()))
        left, right = _pairs_by_identifier(
            labels[position], reference.codes(mapping.columns[position])[0]
        )
        lefts.append(left)
        rights.append(right)
        unidentified = np.flatnonzero(labels[position] < 0)
    if quantities and len(unidentified):
        left, right = _pairs_by_grid(quantities, unidentified, mapping, reference)
        lefts.append(left)
        rights.append(right)
    left, right = np.concatenate(lefts), np.concatenate(rights)
    agree = np.ones(len(left), dtype=np.bool_)
    for position, codes in labels.items():
        wanted = codes[left]
        original = reference.codes(mapping.columns[position])[0][right]
        agree &= (wanted == MISSING) | (wanted == original)
    for position, values in quantities.items():
        spec = reference.schema.column(mapping.columns[position])
        seen = values[left]
        with np.errstate(invalid="ignore"):
            near = np.abs(seen - reference.quantities(spec.name)[right]) <= _reach(spec)
        agree &= np.isnan(seen) | near
    left, right = left[agree], right[agree]
    unique = np.bincount(left, minlength=leaked.rows)[left] == 1
    return Matches(left[unique], right[unique])


def _reach(spec: Column) -> float:
    # A hair over the tolerance, so that decimal text read back into binary floats still fits.
    return float(spec.step) * (PARAMETERS.tolerance + 1e-9)


def _leaked_codes(
    column: LeakedColumn,
    name: str,
    pseudonymous: bool,
    reference: Reference,
    grants: Sequence[GrantKey],
) -> npt.NDArray[np.int64]:
    """Each leaked value's code in the original column (UNKNOWN if it has none, MISSING if
    empty); a pseudonym's code is that of the identifier it decrypts to."""
    known = dict(reference.codes(name)[1])
    # A pseudonym no candidate's key opens says nothing about its row: it counts as missing.
    unknown = MISSING if pseudonymous else UNKNOWN
    if pseudonymous:
        known.update(_resolve(column.texts, reference.schema.field_index(name), reference, grants))
    return np.array(
        [MISSING if v is None else known.get(v, unknown) for v in column.texts], dtype=np.int64
    )


def _resolve(
    values: Sequence[str | None], field: int, reference: Reference, grants: Sequence[GrantKey]
) -> dict[str, int]:
    """Pseudonym -> identifier code, for the values some grant's key opens."""
    decoded = pseudonyms.decode(values)
    by_tag: dict[int, list[GrantKey]] = {}
    for grant in grants:
        by_tag.setdefault(grant.tag, []).append(grant)
    resolved: dict[str, int] = {}
    for tag in np.unique(decoded.tags).tolist():
        rows = np.flatnonzero(decoded.tags == tag)
        for grant in by_tag.get(tag, []):
            valid, digests = pseudonyms.open_blocks(grant, decoded.blocks[rows])
            for row, digest in zip(rows[valid].tolist(), digests[valid], strict=True):
                hit = reference.identifier_digests.get(digest.tobytes())
                if hit is not None and hit[0] == field:
                    resolved[decoded.values[row]] = hit[1]
    return resolved


def _leaked_quantities(column: LeakedColumn, spec: Column) -> Floats:
    return column.numbers if spec.kind is ColumnKind.NUMERIC else column.seconds


def _pairs_by_identifier(
    wanted: npt.NDArray[np.int64], original: npt.NDArray[np.int64]
) -> tuple[Ints, Ints]:
    order = np.argsort(original, kind="stable")
    ordered = original[order]
    start = np.searchsorted(ordered, wanted, side="left")
    end = np.searchsorted(ordered, wanted, side="right")
    end[wanted < 0] = start[wanted < 0]
    return _expand(start, end, order)


def _pairs_by_grid(
    quantities: dict[int, Floats], rows: Ints, mapping: Mapping, reference: Reference
) -> tuple[Ints, Ints]:
    """Candidate pairs for the leaked `rows` from up to two quantity columns, the most
    selective ones: each leaked value looks up every grid point within reach of it."""

    def distinct(position: int) -> int:
        spec = reference.schema.column(mapping.columns[position])
        return len(np.unique(columns.grid(reference.quantities(spec.name), spec.step)))

    chosen = sorted(quantities, key=distinct, reverse=True)[:2]
    original_key = np.zeros(reference.rows, dtype=np.int64)
    leaked_keys = [np.zeros(len(rows), dtype=np.int64)]
    for position in chosen:
        spec = reference.schema.column(mapping.columns[position])
        step = float(spec.step)
        original_key = _mix(original_key, columns.grid(reference.quantities(spec.name), spec.step))
        seen = quantities[position][rows] / step
        # Grid points within reach: the tolerance, plus half a step for originals off the grid.
        low = np.ceil(np.nan_to_num(seen, nan=0.0) - PARAMETERS.tolerance - 0.5).astype(np.int64)
        leaked_keys = [_mix(key, low + shift) for key in leaked_keys for shift in range(3)]
    order = np.argsort(original_key, kind="stable")
    ordered = original_key[order]
    lefts, rights = [], []
    for key in leaked_keys:
        start = np.searchsorted(ordered, key, side="left")
        end = np.searchsorted(ordered, key, side="right")
        left, right = _expand(start, end, order)
        lefts.append(rows[left])
        rights.append(right)
    # A key collision could offer a pair twice; each pair must count once.
    pairs = np.unique(np.stack([np.concatenate(lefts), np.concatenate(rights)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _mix(key: npt.NDArray[np.int64], grid: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # Wrapping arithmetic: collisions only add candidates, which the checks then drop.
    with np.errstate(over="ignore"):
        return key * np.int64((1 << 32) + 15) + grid


def _expand(start: Ints, end: Ints, order: Ints) -> tuple[Ints, Ints]:
    """All pairs (i, order[k]) for k in start[i]..end[i]; rows with too many are dropped."""
    counts = end - start
    counts[counts > MAX_CANDIDATES] = 0
    left = np.repeat(np.arange(len(start)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return left, order[np.repeat(start, counts) + offsets]
