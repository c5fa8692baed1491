"""A grant's marked copy: deterministic, the same batch by batch as whole, within the declared
precision, categorical and text values untouched, ids replaced by spreadsheet-proof
pseudonyms, about 1 % of rows left out."""

from __future__ import annotations

import io
import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from fingerprint_helpers import TRAJECTORY, World, grant_id
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.fingerprint.errors import MarkingError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.reading import number_of, seconds_of
from cityledger.sdk.schema import Column, ColumnKind, DatasetSchema
from cityledger.testnet.demo_data import DATASET, SCHEMA, generate

SMALL = generate(2_000, seed=11)
KEYS = DatasetKeys(DATASET, bytes(range(32)))


def test_the_same_data_grant_and_secret_give_the_same_bytes(tmp_path: Path) -> None:
    outputs = []
    for attempt in range(2):
        copy = Marker(SCHEMA, KEYS, grant_id(0)).mark_table(SMALL)
        pq.write_table(copy, tmp_path / f"{attempt}.parquet")
        text = io.BytesIO()
        pa_csv.write_csv(copy, text)
        outputs.append(((tmp_path / f"{attempt}.parquet").read_bytes(), text.getvalue()))
    assert outputs[0] == outputs[1]
    assert Marker(SCHEMA, KEYS, grant_id(1)).mark_table(SMALL) != Marker(
        SCHEMA, KEYS, grant_id(0)
    ).mark_table(SMALL)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=6),
    subset=st.lists(st.sampled_from(SCHEMA.names), unique=True, min_size=1),
    skip=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_batches_marked_apart_equal_the_whole_table_marked(
    sizes: list[int], subset: list[str], skip: int, seed: int
) -> None:
    """Any batches, any subset of the rows, any columns in any order: a row's marks follow its
    key, so every delivery under a grant carries the same marks on the same rows."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(rng.random(SMALL.num_rows) >= skip / 10)
    inputs = list(rng.permutation(sorted(set(subset) | set(SCHEMA.key))))
    table = SMALL.take(rows).select(inputs)
    marker = Marker(SCHEMA, KEYS, grant_id(2))
    whole = Marker(SCHEMA, KEYS, grant_id(2)).mark_table(SMALL, subset)
    parts, start = [], 0
    for size in [*sizes, table.num_rows]:
        if start < table.num_rows:
            parts.append(marker.mark(table.slice(start, size).to_batches()[0], subset))
            start += size
    marked = pa.Table.from_batches(parts, schema=whole.schema) if parts else whole.slice(0, 0)
    kept_of_whole = Marker(SCHEMA, KEYS, grant_id(2)).mark_table(SMALL.take(rows), subset)
    assert marked.equals(kept_of_whole)
    assert marked.column_names == subset


def test_marks_stay_within_precision_and_labels_are_untouched(world: World) -> None:
    held = world.held(0)
    copy = world.copy(0)
    original = world.table.filter(pa.array(held))
    assert 0.008 < 1 - held.mean() < 0.012  # about 1 % of rows left out
    assert copy.num_rows == original.num_rows
    for name in ("cell_id", "test_result"):
        assert copy[name].equals(original[name])
    moved = (
        copy["visit_time"].cast(pa.int64()).to_numpy()
        - original["visit_time"].cast(pa.int64()).to_numpy()
    )
    assert set(np.unique(moved)) == {-120, 120}  # 0.4 of 300 s, whole minutes
    for name in ("latitude", "longitude"):
        shift = copy[name].to_numpy() - original[name].to_numpy()
        assert np.allclose(np.abs(shift), 0.00004, rtol=0, atol=1e-9)
        assert 0.3 < (shift > 0).mean() < 0.7
        assert all(len(repr(float(v)).split(".")[1]) <= 5 for v in copy[name].to_numpy()[:1000])


def test_every_copy_has_its_own_marks(world: World) -> None:
    both = world.held(0) & world.held(1)
    first = world.aligned(0)["latitude"][both]
    second = world.aligned(1)["latitude"][both]
    differ = np.mean(first != second)
    assert 0.2 < differ < 0.5  # where two grants' Tardos bits differ


def test_pseudonyms_are_spreadsheet_proof_and_per_grant(world: World) -> None:
    original = world.table["id_hash"].filter(pa.array(world.held(0))).to_pylist()
    first = world.copy(0)["id_hash"].to_pylist()
    second = (
        Marker(SCHEMA, world.keys, grant_id(1))
        .mark_table(world.table.slice(0, 5000), ["id_hash"])["id_hash"]
        .to_pylist()
    )
    shape = re.compile(r"P[0-9ABCDEFGHJKMNPQRSTVWXYZ]{29}")
    assert all(shape.fullmatch(p) for p in first)
    assert all(math.isnan(number_of(p)) and math.isnan(seconds_of(p, False)) for p in first[:2000])
    person_to_pseudonym = dict(zip(original, first, strict=True))
    assert len(set(person_to_pseudonym.values())) == len(person_to_pseudonym)  # one per person
    assert all(person_to_pseudonym[o] == p for o, p in zip(original, first, strict=True))
    assert not set(second) & set(first)


def test_nulls_stay_null() -> None:
    table = SMALL.slice(0, 50)
    for name in ("latitude", "visit_time", "id_hash", "cell_id"):
        column = table[name].to_pylist()
        column[3] = None
        table = table.set_column(
            table.column_names.index(name), name, pa.array(column, table[name].type)
        )
    copy = Marker(SCHEMA, KEYS, grant_id(0)).mark_table(table)
    assert copy.num_rows == 50  # this grant leaves none of these rows out
    for name in ("latitude", "visit_time", "id_hash", "cell_id"):
        assert copy[name].null_count == 1 and copy[name][3].as_py() is None


def test_what_cannot_be_marked_is_refused() -> None:
    marker = Marker(SCHEMA, KEYS, grant_id(0))
    batch = SMALL.slice(0, 10).to_batches()[0]
    with pytest.raises(MarkingError, match="row key"):
        marker.mark(SMALL.slice(0, 10).drop(["visit_time"]).to_batches()[0])
    with pytest.raises(MarkingError, match="no column 'colour'"):
        marker.mark(batch, ["colour"])
    with pytest.raises(MarkingError, match="numeric in the schema"):
        wrong = SMALL.slice(0, 10).set_column(4, "latitude", pa.array(["north"] * 10))
        marker.mark(wrong.to_batches()[0])
    per_second = DatasetSchema(
        (
            Column("id", ColumnKind.IDENTIFIER),
            Column("t", ColumnKind.TIMESTAMP, Decimal(1), markable=True),
        ),
        ("id",),
    )
    seconds = pa.table({"id": ["a", "b"], "t": pa.array([0, 1], pa.timestamp("s"))})
    with pytest.raises(MarkingError, match="finer unit"):
        Marker(per_second, KEYS, grant_id(0)).mark_table(seconds)
    milliseconds = seconds.set_column(1, "t", seconds["t"].cast(pa.timestamp("ms")))
    assert Marker(per_second, KEYS, grant_id(0)).mark_table(milliseconds).num_rows <= 2


def test_the_granted_columns_only(world: World) -> None:
    assert world.copy(0).column_names == list(TRAJECTORY)


def test_the_same_values_in_other_arrow_types_get_the_same_marks() -> None:
    """A gateway may read the dataset through DuckDB: microsecond times, large strings,
    decimals. Row keys read values at their precision, so the marks do not change."""
    table = SMALL.slice(0, 500)
    retyped = pa.table(
        {
            "id_hash": table["id_hash"].cast(pa.large_string()),
            "visit_time": table["visit_time"].cast(pa.timestamp("us")),
            "latitude": table["latitude"].cast(pa.decimal128(9, 4)),
            "longitude": table["longitude"],
        }
    )
    names = ["id_hash", "visit_time", "latitude", "longitude"]
    marker = Marker(SCHEMA, KEYS, grant_id(0))
    plain, other = marker.mark_table(table.select(names)), marker.mark_table(retyped)
    assert plain["id_hash"].to_pylist() == other["id_hash"].to_pylist()
    assert plain["visit_time"].cast(pa.timestamp("us")).equals(other["visit_time"])
    assert plain["latitude"].equals(other["latitude"])
