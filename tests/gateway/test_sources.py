"""A gateway's sources (CSV and Parquet files behind DuckDB views) and its body bounds, in
process: the queries it builds, the files it refuses, the nesting it measures."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityledger.gateway.limits import nesting_depth
from cityledger.gateway.sources import BadValue, SourceError, Sources
from cityledger.sdk.delivery import Condition
from cityledger.sdk.models import DatasetId, hex32
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema

SCHEMA = DatasetSchema(
    columns=(
        Column("meter_id", ColumnKind.IDENTIFIER, markable=True),
        Column('district "north"', ColumnKind.CATEGORICAL),
        Column("reading", ColumnKind.NUMERIC, Decimal("0.1"), markable=True),
        Column("read_at", ColumnKind.TIMESTAMP, Decimal(60), markable=True),
    ),
    key=("meter_id", "read_at"),
)
TABLE = pa.table(
    {
        "meter_id": ["007", "008", "010", "0011"],
        'district "north"': ["a'b", "b", "a'b", "c"],
        "reading": [1.5, 2.0, 3.25, 4.0],
        "read_at": pa.array([60, 120, 180, 240], pa.timestamp("s")),
    }
)
ID = DatasetId(hex32(b"\x01" * 32))


def _files(tmp_path: Path, table: pa.Table = TABLE) -> dict[str, Path]:
    parquet, csv = tmp_path / "meters.parquet", tmp_path / "meters.csv"
    pq.write_table(table, parquet)
    pa_csv.write_csv(table, csv)
    return {"parquet": parquet, "csv": csv}


def _rows(sources: Sources, source: Path, conditions: list[Condition]) -> list[dict[str, object]]:
    dataset = sources.add(source.name, ID, SCHEMA, source)
    with sources.scan(dataset, ["meter_id", 'district "north"'], conditions, 2) as reader:
        rows: list[dict[str, object]] = pa.Table.from_batches(
            list(reader), schema=reader.schema
        ).to_pylist()
    return rows


@pytest.mark.parametrize("kind", ["parquet", "csv"])
@pytest.mark.parametrize(
    ("conditions", "ids"),
    [
        ([], ["007", "008", "010", "0011"]),
        (['district "north" = a\'b'], ["007", "010"]),
        (["reading >= 3", "meter_id != 0011"], ["010"]),
        (["meter_id in 007, 0011"], ["007", "0011"]),
        (["read_at < 1970-01-01 00:03:00"], ["007", "008"]),
        (["meter_id = 7"], []),  # identifiers stay text: no "007" read as 7
    ],
)
def test_csv_and_parquet_answer_alike(
    tmp_path: Path, kind: str, conditions: list[str], ids: list[str]
) -> None:
    sources = Sources(memory_mb=64, threads=1)
    rows = _rows(sources, _files(tmp_path)[kind], [Condition.parse(c) for c in conditions])
    assert [r["meter_id"] for r in rows] == ids


def test_values_are_parameters_and_names_come_from_the_schema(tmp_path: Path) -> None:
    sources = Sources(memory_mb=64, threads=1)
    dataset = sources.add("m", ID, SCHEMA, _files(tmp_path)["parquet"])
    sql, params = dataset.select(['district "north"'], [Condition.parse("meter_id = x' OR '1'='1")])
    assert sql == (
        'SELECT "district ""north""" FROM dataset_0 WHERE "meter_id" = CAST($1 AS VARCHAR)'
    )
    assert params == ["x' OR '1'='1"]


def test_a_value_its_column_does_not_take_is_named(tmp_path: Path) -> None:
    sources = Sources(memory_mb=64, threads=1)
    dataset = sources.add("m", ID, SCHEMA, _files(tmp_path)["csv"])
    conditions = [Condition.parse("meter_id = 1"), Condition.parse("reading in 1, two")]
    with pytest.raises(BadValue) as bad:
        sources.check_values(dataset, conditions)
    assert (bad.value.condition, bad.value.value, bad.value.column) == (1, 1, "reading")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (TABLE.drop_columns(["reading"]), "columns"),
        (TABLE.append_column("phone", pa.array(["1", "2", "3", "4"])), "columns"),
        (TABLE.set_column(2, "reading", pa.array(["1", "2", "3", "4"])), "numeric"),
        (TABLE.set_column(3, "read_at", pa.array(["a", "b", "c", "d"])), "time"),
    ],
)
def test_a_file_that_does_not_fit_its_schema_is_refused(
    tmp_path: Path, table: pa.Table, message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        Sources(memory_mb=64, threads=1).add("m", ID, SCHEMA, _files(tmp_path, table)["parquet"])


def test_a_missing_or_unknown_file_is_refused(tmp_path: Path) -> None:
    sources = Sources(memory_mb=64, threads=1)
    with pytest.raises(SourceError, match="no file"):
        sources.add("m", ID, SCHEMA, tmp_path / "absent.parquet")
    (tmp_path / "meters.xlsx").write_bytes(b"PK")
    with pytest.raises(SourceError, match="neither"):
        sources.add("m", ID, SCHEMA, tmp_path / "meters.xlsx")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"ab'), children, max_size=3)
    ),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(_json)
def test_nesting_is_measured_without_decoding(value: object) -> None:
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)
