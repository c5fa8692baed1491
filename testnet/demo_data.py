"""The demo dataset "jiamusi/epidemic-travel-trace": synthetic visits of synthetic people to
places in and around Jiamusi, shaped like an epidemic travel trace (one row a visit); and the
demo's leaks of it: samples of delivered copies, copies mixed by colluding grantees, and
spreadsheets.

Nothing in it is real: ids hash a made-up person number, names read "Synthetic Person 00042",
phone numbers sit in a block no operator assigns (+86 100 ...), and places are drawn around
made-up cell sites. The same seed and row count always give the same table.

    table = generate(100_000)
    write(table, Path("data"))  # data/epidemic-travel-trace.csv and .parquet
    write_spreadsheet(sample(copy, 5_000, seed=1), Path("leak.xlsx"))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema

DATASET = "jiamusi/epidemic-travel-trace"
FILE_STEM = "epidemic-travel-trace"
SEED = 20261101
TIME_STEP = 300  # seconds: visits are logged to the five minutes
COORDINATE_STEP = Decimal("0.0001")  # degrees, about 11 m

SCHEMA = DatasetSchema(
    columns=(
        Column("id_hash", ColumnKind.IDENTIFIER, markable=True),
        Column("name", ColumnKind.TEXT),
        Column("phone", ColumnKind.IDENTIFIER),
        Column("visit_time", ColumnKind.TIMESTAMP, Decimal(TIME_STEP), markable=True),
        Column("latitude", ColumnKind.NUMERIC, COORDINATE_STEP, markable=True),
        Column("longitude", ColumnKind.NUMERIC, COORDINATE_STEP, markable=True),
        Column("cell_id", ColumnKind.CATEGORICAL),
        Column("test_result", ColumnKind.CATEGORICAL),
    ),
    key=("id_hash", "visit_time"),
)

# Jiamusi's urban area and the counties around it (degrees).
_LATITUDE = (46.60, 47.00)
_LONGITUDE = (130.00, 130.70)
_START = int(datetime(2026, 10, 18, tzinfo=UTC).timestamp())
_DAYS = 14
_CELLS = 600
_RESULTS = ("negative", "positive", "pending")
_RESULT_WEIGHTS = (0.90, 0.02, 0.08)


def generate(rows: int = 100_000, seed: int = SEED) -> pa.Table:
    """`rows` visits, ordered by time; (id_hash, visit_time) is unique."""
    rng = np.random.default_rng(seed)
    people = max(1, rows // 5)
    person = np.sort(rng.integers(0, people, rows))
    # A person's visits: a random first five-minute slot, then gaps of 1 to 39 slots, so one
    # person never has two visits in one slot (a person's few visits span far less than the
    # window; wrapping around it keeps them distinct).
    slots_in_window = _DAYS * 86_400 // TIME_STEP
    first = np.searchsorted(person, person, side="left")
    elapsed = np.cumsum(rng.integers(1, 40, rows))
    start = rng.integers(0, slots_in_window, people)
    slot = (start[person] + elapsed - elapsed[first]) % slots_in_window
    visit_time = _START + slot.astype(np.int64) * TIME_STEP

    cell_latitude = rng.uniform(*_LATITUDE, _CELLS)
    cell_longitude = rng.uniform(*_LONGITUDE, _CELLS)
    cell = rng.integers(0, _CELLS, rows)
    step = float(COORDINATE_STEP)
    latitude = np.round((cell_latitude[cell] + rng.normal(0, 0.004, rows)) / step) * step
    longitude = np.round((cell_longitude[cell] + rng.normal(0, 0.004, rows)) / step) * step
    result = rng.choice(len(_RESULTS), size=people, p=_RESULT_WEIGHTS)[person]

    ids = [
        hashlib.sha256(f"synthetic-person-{seed}-{p}".encode()).hexdigest() for p in range(people)
    ]
    table = pa.table(
        {
            "id_hash": pa.array([ids[p] for p in person.tolist()]),
            "name": pa.array([f"Synthetic Person {p:05d}" for p in person.tolist()]),
            "phone": pa.array(
                [f"+86 100 {p // 10_000:04d} {p % 10_000:04d}" for p in person.tolist()]
            ),
            "visit_time": pa.array(visit_time, pa.timestamp("s")),
            "latitude": pa.array(np.round(latitude, 4)),
            "longitude": pa.array(np.round(longitude, 4)),
            "cell_id": pa.array([f"JMS-{c:04d}" for c in cell.tolist()]),
            "test_result": pa.array([_RESULTS[r] for r in result.tolist()]),
        }
    )
    return table.sort_by([("visit_time", "ascending"), ("id_hash", "ascending")])


def write(table: pa.Table, directory: Path) -> tuple[Path, Path]:
    """The table as CSV and as Parquet in `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = directory / f"{FILE_STEM}.csv", directory / f"{FILE_STEM}.parquet"
    pa_csv.write_csv(table, csv_path)
    pq.write_table(table, parquet_path)
    return csv_path, parquet_path


def sample(table: pa.Table, rows: int, seed: int) -> pa.Table:
    """`rows` rows of `table` drawn at random, in their original order."""
    rng = np.random.default_rng(seed)
    return table.take(np.sort(rng.choice(table.num_rows, rows, replace=False)))


def collude(
    copies: Sequence[pa.Table], rows: int, seed: int, by: Literal["rows", "majority"]
) -> pa.Table:
    """What colluding grantees make of their marked copies: `rows` visits, each taken whole from
    one colluder that holds it (by="rows"), or each cell the value most colluders holding the
    visit agree on, ties broken at random (by="majority"; in a row's identifier, which differs
    in every copy, one holder's value). Colluders line their copies up as anyone can: by the
    unmarked columns and the marked ones rounded to their precision."""
    rng = np.random.default_rng(seed)
    names = copies[0].column_names
    places = [_visits(copy) for copy in copies]
    visits = sorted(set().union(*places))
    chosen = [visits[i] for i in np.sort(rng.choice(len(visits), rows, replace=False))]
    values = [{name: copy.column(name).to_pylist() for name in names} for copy in copies]
    quantities = {c.name for c in SCHEMA.columns if c.precision is not None}
    out: dict[str, list[object]] = {name: [] for name in names}
    for visit in chosen:
        holders = [
            (v, place[visit]) for v, place in zip(values, places, strict=True) if visit in place
        ]
        whole = holders[rng.integers(len(holders))]
        for name in names:
            if by == "rows" or name not in quantities:
                out[name].append(whole[0][name][whole[1]])
                continue
            votes: dict[object, int] = {}
            for copy, row in holders:
                votes[copy[name][row]] = votes.get(copy[name][row], 0) + 1
            winners = [v for v, n in votes.items() if n == max(votes.values())]
            out[name].append(winners[rng.integers(len(winners))])
    return pa.table({name: pa.array(out[name], copies[0].column(name).type) for name in names})


def _visits(copy: pa.Table) -> dict[tuple[object, ...], int]:
    """Each row of a copy by what every copy shows alike: labels, and marked values at their
    declared precision."""
    parts = []
    for name in copy.column_names:
        column = SCHEMA.column(name)
        if column.markable and column.precision is None:
            continue  # pseudonyms differ from copy to copy
        if column.precision is None:
            parts.append(copy.column(name).to_pylist())
            continue
        values = copy.column(name)
        if pa.types.is_timestamp(values.type):
            values = values.cast(pa.int64())
        step = float(column.precision)
        parts.append(
            np.rint(values.to_numpy(zero_copy_only=False) / step).astype(np.int64).tolist()
        )
    return {key: row for row, key in enumerate(zip(*parts, strict=True))}


def write_spreadsheet(table: pa.Table, path: Path) -> Path:
    """The table as an XLSX workbook, typed the way a spreadsheet program keeps it: numbers as
    numbers, times as dates shown to the minute, everything else as text; and, as Excel and
    LibreOffice write it, the sheet's size declared before its rows (openpyxl's write-only mode
    leaves it out, and its reader then parses the whole sheet twice). For leak-sized tables:
    the workbook is built in memory."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "leak"
    sheet.append(table.column_names)
    columns = [table.column(name).to_pylist() for name in table.column_names]
    for number, row in enumerate(zip(*columns, strict=True), 2):
        sheet.append(row)
        for column, value in enumerate(row, 1):
            if isinstance(value, datetime):
                sheet.cell(number, column).number_format = "m/d/yyyy h:mm"
    book.save(path)
    return path
