"""Leaks of the 100,000-row travel trace traced against 1,000 candidate grants: the grant whose
copy leaked is attributed with a false-attribution probability under 1e-9, and no other one,
whatever was done to the file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fingerprint_helpers import World, from_xlsx, grant_id, to_xlsx, write_csv

from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.reading import read_leak
from cityledger.fingerprint.scoring import TraceReport, observe, trace
from cityledger.testnet.demo_data import SCHEMA, collude, generate, sample

LEAKER = 3
FIVE_PERCENT = 5_000


def attributed(report: TraceReport) -> set[int]:
    return {int(g, 16) - 1 for g in report.attributed}


def assert_attributed(report: TraceReport, *numbers: int) -> None:
    assert attributed(report) == set(numbers)
    for candidate in report.candidates[: len(numbers)]:
        assert candidate.false_attribution_probability < 1e-9
    assert report.candidates[len(numbers)].false_attribution_probability >= 1e-9


@pytest.fixture(scope="module")
def leak(world: World) -> pa.Table:
    """A 5 % sample of the leaker's copy."""
    return sample(world.copy(LEAKER), FIVE_PERCENT, seed=1)


def test_a_five_percent_sample_names_its_grant(
    world: World, leak: pa.Table, tmp_path: Path
) -> None:
    report = world.trace(write_csv(leak, tmp_path / "leak.csv"))
    assert_attributed(report, LEAKER)
    assert report.rows == report.matched_rows == FIVE_PERCENT
    best = report.candidates[0]
    assert best.grant_id == grant_id(LEAKER)
    assert {c: best.channels[c].log_p < np.log(1e-12) for c in best.channels} == {
        "pseudonyms": True,
        "tardos": True,
        "omission": True,
    }


def test_the_report_has_the_documented_shape(world: World, leak: pa.Table, tmp_path: Path) -> None:
    report = world.trace(write_csv(leak.slice(0, 500), tmp_path / "leak.csv")).to_json()
    assert list(report) == ["dataset", "rows", "matchedRows", "candidates", "attributed"]
    assert report["dataset"] == "jiamusi/epidemic-travel-trace"
    assert len(report["candidates"]) == 1000
    first = report["candidates"][0]
    assert list(first) == ["grantId", "grantee", "falseAttributionProbability", "channels"]
    assert set(first["channels"]) == {"pseudonyms", "tardos", "omission"}
    assert set(first["channels"]["tardos"]) == {
        "statistic",
        "observations",
        "pValue",
        "log10PValue",
    }
    ranked = [c["falseAttributionProbability"] for c in report["candidates"]]
    assert ranked == sorted(ranked)
    assert report["attributed"] == [grant_id(LEAKER)]


def test_a_one_percent_sample_names_its_grant_with_or_without_ids(
    world: World, tmp_path: Path
) -> None:
    small = sample(world.copy(LEAKER), 1_000, seed=2)
    assert_attributed(world.trace(write_csv(small, tmp_path / "ids.csv")), LEAKER)
    assert_attributed(
        world.trace(write_csv(small.drop(["id_hash"]), tmp_path / "no-ids.csv")), LEAKER
    )


def test_the_smallest_samples_that_still_name_the_grant(world: World, tmp_path: Path) -> None:
    """Two rows that keep their pseudonyms are enough; without ids, 40 rows (120 cells)."""
    rows = sample(world.copy(LEAKER), 2, seed=3)
    assert_attributed(world.trace(write_csv(rows, tmp_path / "two.csv")), LEAKER)
    rows = sample(world.copy(LEAKER), 40, seed=3).drop(["id_hash"])
    assert_attributed(world.trace(write_csv(rows, tmp_path / "forty.csv")), LEAKER)


def test_ids_dropped(world: World, leak: pa.Table, tmp_path: Path) -> None:
    report = world.trace(write_csv(leak.drop(["id_hash"]), tmp_path / "leak.csv"))
    assert_attributed(report, LEAKER)
    assert report.candidates[0].channels["pseudonyms"].observations == 0


def test_only_three_columns_kept(world: World, leak: pa.Table, tmp_path: Path) -> None:
    three = leak.select(["latitude", "longitude", "test_result"])
    report = world.trace(write_csv(three, tmp_path / "leak.csv"))
    assert_attributed(report, LEAKER)
    assert report.matched_rows > 0.9 * FIVE_PERCENT


def test_rows_and_columns_shuffled(world: World, leak: pa.Table, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    names = list(rng.permutation(leak.column_names))
    shuffled = leak.take(rng.permutation(leak.num_rows)).select(names)
    assert_attributed(world.trace(write_csv(shuffled, tmp_path / "leak.csv")), LEAKER)


def test_headers_renamed(world: World, leak: pa.Table, tmp_path: Path) -> None:
    renamed = leak.rename_columns([f"col{i}" for i in range(leak.num_columns)])
    report = world.trace(write_csv(renamed, tmp_path / "leak.csv"))
    assert_attributed(report, LEAKER)
    assert report.matched_rows == FIVE_PERCENT


def test_csv_to_xlsx_to_csv(world: World, leak: pa.Table, tmp_path: Path) -> None:
    """Excel's rewriting: numbers to 15 digits, times shown as 11/3/2026 14:05."""
    xlsx = to_xlsx(write_csv(leak, tmp_path / "leak.csv"), tmp_path / "leak.xlsx")
    assert_attributed(world.trace(xlsx), LEAKER)
    again = from_xlsx(xlsx, tmp_path / "again.csv")
    assert "/" in again.read_text().splitlines()[1]
    assert_attributed(world.trace(again), LEAKER)


def test_one_column_rounded_to_half_its_precision(
    world: World, leak: pa.Table, tmp_path: Path
) -> None:
    rounded = np.round(leak["latitude"].to_numpy() / 0.00005) * 0.00005
    table = leak.drop(["id_hash"]).set_column(1, "latitude", pa.array(np.round(rounded, 5)))
    assert_attributed(world.trace(write_csv(table, tmp_path / "leak.csv")), LEAKER)


def test_a_fifth_of_the_rows_replaced_by_rows_from_elsewhere(
    world: World, leak: pa.Table, tmp_path: Path
) -> None:
    elsewhere = generate(FIVE_PERCENT // 5, seed=7).select(leak.column_names)
    mixed_in = pa.concat_tables([leak.slice(0, FIVE_PERCENT - elsewhere.num_rows), elsewhere])
    report = world.trace(write_csv(mixed_in, tmp_path / "leak.csv"))
    assert_attributed(report, LEAKER)
    assert report.matched_rows == FIVE_PERCENT - elsewhere.num_rows


@pytest.mark.parametrize(
    ("coalition", "by"),
    [((1, 2), "rows"), ((4, 5, 6), "rows"), ((1, 2), "majority"), ((4, 5, 6), "majority")],
)
def test_coalitions_are_named_whole(
    world: World, coalition: tuple[int, ...], by: Literal["rows", "majority"], tmp_path: Path
) -> None:
    """Mixed by rows, ids kept; by per-cell majority, ids dropped (they differ in every copy),
    so the code alone must name every colluder."""
    table = collude([world.copy(n) for n in coalition], FIVE_PERCENT, seed=5, by=by)
    if by == "majority":
        table = table.drop(["id_hash"])
    assert_attributed(world.trace(write_csv(table, tmp_path / "leak.csv")), *coalition)


def test_the_original_data_attributes_nobody(world: World, tmp_path: Path) -> None:
    original = sample(world.table, FIVE_PERCENT, seed=6)
    report = world.trace(write_csv(original, tmp_path / "original.csv"))
    assert report.matched_rows == FIVE_PERCENT
    assert report.attributed == ()


def test_another_dataset_attributes_nobody(world: World, tmp_path: Path) -> None:
    other = generate(FIVE_PERCENT, seed=8)
    moved = other.set_column(
        4, "latitude", pc.add(other["latitude"], pa.scalar(0.00004))
    )  # marks' shape, no mark
    report = world.trace(write_csv(moved, tmp_path / "other.csv"))
    assert report.attributed == ()


def test_the_original_read_from_parquet_or_csv_traces_alike(
    world: World, leak: pa.Table, tmp_path: Path
) -> None:
    write_csv(world.table, tmp_path / "original.csv")
    pq.write_table(world.table, tmp_path / "original.parquet")
    evidence = write_csv(leak.slice(0, 300).drop(["id_hash"]), tmp_path / "leak.csv")
    reports = [
        trace(evidence, Reference.load(tmp_path / name, SCHEMA, world.keys), world.candidates)
        for name in ("original.csv", "original.parquet")
    ]
    assert reports[0].to_json() == reports[1].to_json()
    assert attributed(reports[0]) == {LEAKER}


def test_rows_sharing_a_key_share_their_marks_and_count_once(world: World, tmp_path: Path) -> None:
    """Two rows with one key (here: the same visit logged at two places) carry the same
    marks; counting both would overstate the evidence."""
    table = world.table.slice(0, 1000)
    elsewhere = table.set_column(4, "latitude", pc.add(table["latitude"], 0.01))
    doubled = pa.concat_tables([table, elsewhere])
    reference = Reference(SCHEMA, world.keys, doubled)
    marker = Marker(SCHEMA, world.keys, grant_id(LEAKER))
    copy = marker.mark_table(doubled, ["visit_time", "latitude", "longitude"])
    observations = observe(read_leak(write_csv(copy, tmp_path / "leak.csv")), reference, [])
    assert len(observations.leaked_rows) == copy.num_rows // 2
    cells = observations.cells.row * 8 + observations.cells.field
    assert len(np.unique(cells)) == len(cells) == 3 * copy.num_rows // 2
