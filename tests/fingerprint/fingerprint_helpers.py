"""The world the fingerprint tests trace leaks in: the synthetic travel trace (100,000 rows),
a dataset secret, 1,000 candidate grants, the leakers' marked copies, and the ways people
rewrite a leaked table (sampling, mixing copies, spreadsheets)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
from openpyxl import Workbook, load_workbook

from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.omission import omitted
from cityledger.fingerprint.rows import row_digests
from cityledger.fingerprint.scoring import CandidateGrant, TraceReport, trace
from cityledger.testnet.demo_data import DATASET, SCHEMA

GRANTS = 1000
# What the epidemic-control grants cover (SCENARIOS.md): everything but name and phone.
TRAJECTORY = ("id_hash", "visit_time", "latitude", "longitude", "cell_id", "test_result")
# A tenth of the candidates were granted less: ids and test results only.
RESULTS_ONLY = ("id_hash", "test_result")
QUANTITIES = ("visit_time", "latitude", "longitude")


def grant_id(number: int) -> str:
    return f"0x{number + 1:064x}"


@dataclass
class World:
    table: pa.Table
    keys: DatasetKeys
    reference: Reference
    candidates: list[CandidateGrant]
    copies: dict[int, pa.Table] = field(default_factory=dict)

    @classmethod
    def build(cls, table: pa.Table) -> World:
        keys = DatasetKeys(DATASET, bytes(range(32)))
        candidates = [
            CandidateGrant(
                grant_id(n),
                f"agency {n}",
                frozenset(
                    SCHEMA.field_index(c) for c in (RESULTS_ONLY if n % 10 == 9 else TRAJECTORY)
                ),
            )
            for n in range(GRANTS)
        ]
        return cls(table, keys, Reference(SCHEMA, keys, table), candidates)

    def copy(self, number: int) -> pa.Table:
        """Grant `number`'s marked copy of the whole dataset, its granted columns."""
        if number not in self.copies:
            marker = Marker(SCHEMA, self.keys, grant_id(number))
            self.copies[number] = marker.mark_table(self.table, list(TRAJECTORY))
        return self.copies[number]

    @cached_property
    def digests(self) -> npt.NDArray[np.uint8]:
        return row_digests(SCHEMA, self.keys.code, self.table)

    def held(self, number: int) -> npt.NDArray[np.bool_]:
        """Which original rows grant `number`'s copy holds."""
        return ~omitted(self.keys.grant(grant_id(number)), self.digests)

    def aligned(self, number: int) -> dict[str, npt.NDArray[np.object_]]:
        """The copy's columns laid out by original row (None where the copy omits the row)."""
        held = self.held(number)
        copy = self.copy(number)
        out = {}
        for name in copy.column_names:
            values = np.full(self.table.num_rows, None, dtype=object)
            values[held] = np.array(copy.column(name).to_pylist(), dtype=object)
            out[name] = values
        return out

    def trace(self, path: Path) -> TraceReport:
        return trace(path, self.reference, self.candidates, dataset=DATASET)


def sample(table: pa.Table, rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return table.take(np.sort(rng.choice(table.num_rows, rows, replace=False)))


def mixed(
    world: World, numbers: Sequence[int], rows: int, *, by: str, seed: int, columns: Sequence[str]
) -> pa.Table:
    """A coalition's file: `rows` rows any colluder holds, each taken from one colluder at
    random (by="rows"), or each cell the value most colluders holding the row agree on, ties
    broken at random (by="majority")."""
    rng = np.random.default_rng(seed)
    copies = [world.aligned(n) for n in numbers]
    held = np.stack([world.held(n) for n in numbers])
    chosen = np.sort(rng.choice(np.flatnonzero(held.any(axis=0)), rows, replace=False))
    out: dict[str, list[object]] = {name: [] for name in columns}
    for row in chosen.tolist():
        holders = [i for i in range(len(numbers)) if held[i, row]]
        pick = holders[rng.integers(len(holders))]
        for name in columns:
            if by == "rows" or name not in QUANTITIES:
                out[name].append(copies[pick][name][row])
                continue
            votes: dict[object, int] = {}
            for i in holders:
                votes[copies[i][name][row]] = votes.get(copies[i][name][row], 0) + 1
            best = max(votes.values())
            winners = [v for v, n in votes.items() if n == best]
            out[name].append(winners[rng.integers(len(winners))])
    return pa.table(
        {name: pa.array(out[name], world.copy(numbers[0]).column(name).type) for name in columns}
    )


def write_csv(table: pa.Table, path: Path) -> Path:
    pa_csv.write_csv(table, path)
    return path


def to_xlsx(csv_path: Path, xlsx_path: Path) -> Path:
    """Opens a CSV as Excel does: numbers become numbers, date-times dates shown to the
    minute, other text stays text; then saves it as a workbook."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    with csv_path.open(newline="") as file:
        for index, record in enumerate(csv.reader(file)):
            sheet.append(record if index == 0 else [_excel_value(v) for v in record])
    book.save(xlsx_path)
    return xlsx_path


def from_xlsx(xlsx_path: Path, csv_path: Path) -> Path:
    """Saves a workbook as CSV as Excel does: numbers to 15 significant digits, dates as
    m/d/yyyy h:mm (seconds dropped)."""
    book = load_workbook(xlsx_path, read_only=True)
    with csv_path.open("w", newline="") as file:
        out = csv.writer(file)
        for values in book.worksheets[0].iter_rows(values_only=True):
            out.writerow([_excel_text(v) for v in values])
    book.close()
    return csv_path


def _excel_value(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def _excel_text(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value.month}/{value.day}/{value.year} {value.hour}:{value.minute:02d}"
    if isinstance(value, float):
        return f"{value:.15g}"
    return "" if value is None else str(value)
