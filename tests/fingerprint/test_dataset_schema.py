"""cityledger.sdk.schema: columns, the row key, canonical JSON and the schema hash, and clear
errors for schema files that cannot be used."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema, SchemaError
from cityledger.testnet.demo_data import SCHEMA


def test_the_travel_trace_schema_round_trips_through_its_file(tmp_path: Path) -> None:
    SCHEMA.save(tmp_path / "schema.json")
    assert DatasetSchema.load(tmp_path / "schema.json") == SCHEMA
    assert SCHEMA.schema_hash == "0x" + keccak(text=SCHEMA.canonical_json()).hex()
    assert SCHEMA.column("latitude").step == Decimal("0.0001")
    assert SCHEMA.field_index("visit_time") == 3
    assert SCHEMA.field_mask(["id_hash", "visit_time"]) == 0b1001
    assert SCHEMA.fields_of(0b1001) == ("id_hash", "visit_time")


def test_the_canonical_json_is_fixed() -> None:
    schema = DatasetSchema(
        (
            Column("id", ColumnKind.IDENTIFIER, markable=True),
            Column("t", ColumnKind.TIMESTAMP, Decimal("3E+2")),
        ),
        ("id",),
    )
    assert schema.canonical_json() == (
        '{"columns":[{"kind":"identifier","markable":true,"name":"id"},'
        '{"kind":"timestamp","markable":false,"name":"t","precision":"300"}],'
        '"format":"cityledger-schema/1","key":["id"]}'
    )


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)


@st.composite
def schemas(draw: st.DrawFn) -> DatasetSchema:
    columns = []
    for name in draw(st.lists(names, min_size=1, max_size=8, unique=True)):
        kind = draw(st.sampled_from(list(ColumnKind)))
        precision = None
        if kind in (ColumnKind.NUMERIC, ColumnKind.TIMESTAMP):
            precision = Decimal(draw(st.integers(1, 10**6))).scaleb(draw(st.integers(-6, 3)))
        markable = kind in (
            ColumnKind.IDENTIFIER,
            ColumnKind.NUMERIC,
            ColumnKind.TIMESTAMP,
        ) and draw(st.booleans())
        columns.append(Column(name, kind, precision, markable))
    key = draw(st.lists(st.sampled_from([c.name for c in columns]), min_size=1, unique=True))
    return DatasetSchema(tuple(columns), tuple(key))


@given(schemas())
def test_any_schema_survives_its_json_with_the_same_hash(schema: DatasetSchema) -> None:
    again = DatasetSchema.loads(json.dumps(schema.to_json_object(), indent=3))
    assert again == schema
    assert again.schema_hash == schema.schema_hash


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "not JSON"),
        ('{"columns": [], "key": []}', "1 to 256 columns"),
        ('{"columns": [{"name": "a", "kind": "number"}], "key": ["a"]}', '"kind" must be one of'),
        (
            '{"columns": [{"name": "a", "kind": "numeric"}], "key": ["a"]}',
            "needs a positive precision",
        ),
        (
            '{"columns": [{"name": "a", "kind": "numeric", "precision": 0.1}], "key": ["a"]}',
            "decimal string",
        ),
        (
            '{"columns": [{"name": "a", "kind": "text", "markable": true}], "key": ["a"]}',
            "cannot be markable",
        ),
        (
            '{"columns": [{"name": "a", "kind": "text"}], "key": ["b"]}',
            "names 'b', which is not a column",
        ),
        (
            '{"columns": [{"name": "a", "kind": "text"}, {"name": "a", "kind": "text"}], '
            '"key": ["a"]}',
            "duplicate",
        ),
        ('{"columns": [{"name": "a", "kind": "text", "colour": 1}], "key": ["a"]}', "unknown keys"),
        ('{"format": "x", "columns": [], "key": []}', "format"),
    ],
)
def test_a_bad_schema_file_is_refused_clearly(text: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(text)
    with pytest.raises(SchemaError, match=says):
        DatasetSchema.load(path)


def test_a_missing_schema_file_is_named() -> None:
    with pytest.raises(SchemaError, match="no schema file at /nonexistent"):
        DatasetSchema.load(Path("/nonexistent/schema.json"))


def test_deeply_nested_json_is_refused_before_decoding() -> None:
    with pytest.raises(SchemaError, match="brackets"):
        DatasetSchema.loads("[" * 200_000 + "]" * 200_000)
