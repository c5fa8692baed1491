"""The world the fingerprint tests trace leaks in: the synthetic travel trace (100,000 rows),
a dataset secret, 1,000 candidate grants, the leakers' marked copies; and a spreadsheet's round
trip of a leaked CSV (the demo data module makes samples and colluders' mixes)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
from openpyxl import load_workbook

from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.omission import omitted
from cityledger.fingerprint.rows import row_digests
from cityledger.fingerprint.scoring import CandidateGrant, TraceReport, trace
from cityledger.testnet.demo_data import DATASET, SCHEMA, write_spreadsheet

GRANTS = 1000
# What the epidemic-control grants cover (SCENARIOS.md): everything but name and phone.
TRAJECTORY = ("id_hash", "visit_time", "latitude", "longitude", "cell_id", "test_result")
# A tenth of the candidates were granted less: ids and test results only.
RESULTS_ONLY = ("id_hash", "test_result")


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


def write_csv(table: pa.Table, path: Path) -> Path:
    pa_csv.write_csv(table, path)
    return path


def to_xlsx(csv_path: Path, xlsx_path: Path) -> Path:
    """Opens a CSV as a spreadsheet program does (numbers become numbers, date-times dates, other
    text stays text) and saves it as a workbook."""
    return write_spreadsheet(pa_csv.read_csv(csv_path), xlsx_path)


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


def _excel_text(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value.month}/{value.day}/{value.year} {value.hour}:{value.minute:02d}"
    if isinstance(value, float):
        return f"{value:.15g}"
    return "" if value is None else str(value)
