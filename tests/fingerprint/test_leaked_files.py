"""Leaked files of every common format read into normalised columns; corrupt and hostile files
refused with one clear error, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import math
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from cityledger.fingerprint.errors import LeakFileError
from cityledger.fingerprint.reading import (
    LeakedTable,
    Limits,
    json_depth,
    read_leak,
    seconds_of,
)

NOV_3 = datetime(2026, 11, 3, 14, 5, tzinfo=UTC).timestamp()


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def column(table: LeakedTable, header: str) -> tuple[object, ...]:
    return next(c.values for c in table.columns if c.header == header)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("46.81234", 46.81234),
        ("46,81234", 46.81234),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        ("1 234 567", 1234567.0),
        ("\uff11\uff13\uff10\uff0e\uff15", 130.5),  # full-width 130.5, as NFKC reads it
        ("\u22125", -5.0),
        ("1.5e3", 1500.0),
        ("n/a", math.nan),
        ("inf", math.nan),
    ],
)
def test_numbers_are_read_as_people_write_them(text: str, number: float, tmp_path: Path) -> None:
    table = read_leak(write(tmp_path / "n.csv", f'value\n"{text}"\n'))
    read = table.columns[0].numbers[0]
    assert read == number or (math.isnan(read) and math.isnan(number))


@pytest.mark.parametrize(
    "text",
    [
        "11/3/2026 14:05",
        "2026-11-03 14:05:00",
        "2026-11-03T14:05:00Z",
        "2026/11/3 14:05",
        "2026年11月3日 14:05",
        "11/3/2026 2:05 PM",
    ],
)
def test_times_are_read_as_spreadsheets_write_them(text: str) -> None:
    assert seconds_of(text, day_first=False) == NOV_3


def test_excel_serial_days_and_unix_times_are_times() -> None:
    assert seconds_of(46329.586805555555, False) == pytest.approx(NOV_3, abs=0.01)
    assert seconds_of(NOV_3, False) == NOV_3
    assert seconds_of(NOV_3 * 1000, False) == NOV_3
    assert math.isnan(seconds_of(46.8, False))


def test_a_column_of_day_first_dates_reads_day_first(tmp_path: Path) -> None:
    table = read_leak(write(tmp_path / "d.csv", "when\n3/11/2026 14:05\n25/11/2026 14:05\n"))
    assert table.columns[0].seconds[0] == NOV_3


def test_csv_variants(tmp_path: Path) -> None:
    semicolons = read_leak(write(tmp_path / "a.csv", "\ufefflat;lon\n46,81234;130,2\n ; \n"))
    assert semicolons.format == "csv" and semicolons.rows == 1
    assert list(semicolons.columns[0].numbers) == [46.81234]
    tabs = read_leak(write(tmp_path / "a.tsv", "id\tresult\nP1\tnegative\n"))
    assert column(tabs, "result") == ("negative",)
    chinese = read_leak(write(tmp_path / "b.csv", "检测结果,经度\n阴性,130.2\n".encode("gb18030")))
    assert column(chinese, "检测结果") == ("阴性",)
    headless = read_leak(write(tmp_path / "c.csv", "46.8,130.2,negative\n46.9,130.3\n"))
    assert headless.rows == 2 and headless.columns[0].header == "column 1"
    assert headless.columns[2].values == ("negative", None)
    guarded = read_leak(write(tmp_path / "g.csv", 'id\n="P0ABC"\n'))
    assert column(guarded, "id") == ("P0ABC",)


def test_xlsx_parquet_and_json_lines(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["when", "lat", "id"])
    sheet.append([datetime(2026, 11, 3, 14, 5), 46.81234, "PABC"])
    book.save(tmp_path / "leak.xlsx")
    xlsx = read_leak(tmp_path / "leak.xlsx")
    assert xlsx.format == "xlsx" and xlsx.columns[0].seconds[0] == NOV_3
    assert column(xlsx, "lat") == (46.81234,)

    pq.write_table(
        pa.table(
            {
                "lat": [46.81234],
                "when": pa.array([NOV_3], pa.float64()).cast(pa.int64()).cast(pa.timestamp("s")),
                "visits": [[{"at": datetime(2026, 11, 3), "cell": "JMS-0001"}]],
            }
        ),
        tmp_path / "x",
    )
    parquet = read_leak(tmp_path / "x")
    assert parquet.format == "parquet" and parquet.columns[1].seconds[0] == NOV_3
    assert column(parquet, "visits") == ('[{"at": "2026-11-03 00:00:00", "cell": "JMS-0001"}]',)

    lines = '{"lat": 46.8, "tags": {"a": [1]}}\nnot json\n[1, 2]\n{"lat": "46,9", "extra": true}\n'
    jsonl = read_leak(write(tmp_path / "leak.jsonl", lines))
    assert jsonl.format == "jsonl" and jsonl.rows == 2
    assert list(jsonl.columns[0].numbers) == [46.8, 46.9]
    assert column(jsonl, "tags") == ('{"a": [1]}', None)


def test_json_depth_is_counted_without_decoding() -> None:
    assert json_depth('{"a": "[[[[", "b": [1, {"c": "\\"]]"}]}') == 3
    assert json_depth("[" * 100_000) == 100_000


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("empty.csv", "", "holds no rows"),
        ("blank.csv", "\n\n  \n", "holds no rows"),
        ("binary.bin", b"\x00\x01\x02garbage" * 10, "binary content"),
        ("latin.csv", b"a,b\n\xff\xfe\xfa,\x81\n" * 3, None),
        ("deep.jsonl", '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}\n", "nested too deep"),
        ("wide.csv", ",".join(["x"] * 600) + "\n", "more than 512 columns"),
        ("cell.csv", "a\n" + "x" * 70_000 + "\n", "over the 65536 limit"),
        ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, "damaged ZIP"),
        (
            "entities.xlsx",
            _zip(
                {"xl/workbook.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x/>'}
            ),
            "declares XML entities",
        ),
        ("notabook.xlsx", _zip({"hello.txt": b"hi"}), "not a readable XLSX"),
        ("cut.parquet", b"PAR1" + b"\x00" * 64, "not a readable Parquet"),
        ("nothing.jsonl", "{not json}\n", "no JSON object"),
    ],
)
def test_corrupt_and_hostile_files_are_refused_clearly(
    name: str, data: str | bytes, says: str | None, tmp_path: Path
) -> None:
    path = write(tmp_path / name, data)
    if says is None:  # neither UTF-8 nor GB18030 can read these bytes
        with pytest.raises(LeakFileError, match=r"unknown encoding|no rows"):
            read_leak(path)
        return
    with pytest.raises(LeakFileError, match=says):
        read_leak(path)


def test_limits_bound_rows_and_size(tmp_path: Path) -> None:
    path = write(tmp_path / "rows.csv", "a\n" + "1\n" * 50)
    with pytest.raises(LeakFileError, match="more than 10 rows"):
        read_leak(path, Limits(rows=10))
    with pytest.raises(LeakFileError, match="over the 20 limit"):
        read_leak(path, Limits(file_bytes=20))
    bomb = write(tmp_path / "bomb.xlsx", _zip({"xl/sheet.xml": b"<x/>" + b" " * 5_000_000}))
    with pytest.raises(LeakFileError, match="unpacks to more than allowed"):
        read_leak(bomb, Limits(unpacked_bytes=1_000_000))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=3000), flips=st.lists(st.integers(0, 10**6), max_size=8))
def test_no_bytes_give_anything_but_a_table_or_a_leak_file_error(
    data: bytes, flips: list[int], tmp_path: Path
) -> None:
    book = io.BytesIO()
    pq.write_table(pa.table({"a": [1.5, 2.5], "b": ["x", "y"]}), book)
    for seed in (data, book.getvalue()):
        corrupt = bytearray(seed)
        for at in flips:
            if corrupt:
                corrupt[at % len(corrupt)] ^= 0x5A
        path = write(tmp_path / "fuzz", bytes(corrupt))
        with contextlib.suppress(LeakFileError):
            read_leak(path)


def test_json_lines_records_with_many_keys_are_bounded(tmp_path: Path) -> None:
    record = json.dumps({f"k{i}": i for i in range(600)})
    with pytest.raises(LeakFileError, match="more than 512 distinct keys"):
        read_leak(write(tmp_path / "keys.jsonl", record + "\n"))
