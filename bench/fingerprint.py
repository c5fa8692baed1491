"""Marking throughput, trace time and false-attribution figures of cityledger.fingerprint.

    .venv/bin/python bench/fingerprint.py [--runs 5] [--trials 10] [--innocents 100000]

Data: the demo's synthetic travel trace (testnet/demo_data.py), 100,000 rows; 1,000 candidate
grants (keys from one dataset secret), of which the leakers' copies are marked.

1. Marking: one grant's copy of all 100,000 rows with every channel (pseudonyms, the Tardos
   code on three columns, omission), on one core, against peers in the same run writing the same
   table unmarked (pyarrow's CSV and Parquet writers; DuckDB's COPY when it is installed).
2. Tracing: a 5,000-row sample of one copy against 1,000 grants, from reading the original
   Parquet file to the report, as CSV and as XLSX, ids kept and dropped.
3. False attribution: the per-channel p-values of 100,000 keys that marked nothing, against
   the bound; how often leaks of each size and coalition are attributed, in `trials` samples
   each, and whether any innocent grant ever was.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core throughout, before numpy loads

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cityledger.fingerprint.keys import DatasetKeys, GrantKey
from cityledger.fingerprint.marking import Marker
from cityledger.fingerprint.matching import Reference
from cityledger.fingerprint.reading import read_leak
from cityledger.fingerprint.scoring import CandidateGrant, TraceReport, observe, score, trace
from cityledger.testnet.demo_data import (
    DATASET,
    SCHEMA,
    collude,
    generate,
    sample,
    write_spreadsheet,
)

ROWS = 100_000
GRANTS = 1_000
GRANTED = ("id_hash", "visit_time", "latitude", "longitude", "cell_id", "test_result")
LEAK_ROWS = 5_000
THRESHOLD = 1e-9
ALPHAS = (0.1, 0.01, 1e-3, 1e-4)
CHANNELS = ("pseudonyms", "tardos", "omission")


def grant_id(number: int) -> str:
    return f"0x{number + 1:064x}"


@dataclass(frozen=True)
class Setup:
    folder: Path
    table: pa.Table
    original: Path  # the table as Parquet, what a trace reads
    keys: DatasetKeys
    candidates: list[CandidateGrant]

    def copy(self, number: int) -> pa.Table:
        return Marker(SCHEMA, self.keys, grant_id(number)).mark_table(self.table, list(GRANTED))

    def trace(self, path: Path) -> TraceReport:
        reference = Reference.load(self.original, SCHEMA, self.keys)
        return trace(path, reference, self.candidates, dataset=DATASET, threshold=THRESHOLD)


def timed(action: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def marking(setup: Setup, runs: int) -> None:
    marker = Marker(SCHEMA, setup.keys, grant_id(0))
    out = setup.folder / "out"
    rows: list[tuple[str, float]] = [
        ("mark (Arrow in, Arrow out)", timed(lambda: marker.mark_table(setup.table), runs)),
        ("pyarrow: write Parquet, unmarked", timed(lambda: pq.write_table(setup.table, out), runs)),
        (
            "mark + pyarrow write Parquet",
            timed(lambda: pq.write_table(marker.mark_table(setup.table), out), runs),
        ),
        ("pyarrow: write CSV, unmarked", timed(lambda: pa_csv.write_csv(setup.table, out), runs)),
        (
            "mark + pyarrow write CSV",
            timed(lambda: pa_csv.write_csv(marker.mark_table(setup.table), out), runs),
        ),
    ]
    peer = _duckdb(setup.table, out, runs)
    if peer:
        rows.append(peer)
    columns = len(SCHEMA.columns)
    print(f"\n## Marking {ROWS:,} rows, {columns} columns, one core (median of {runs})\n")
    print("| what | seconds | rows/s |\n|---|--:|--:|")
    for what, seconds in rows:
        print(f"| {what} | {seconds:.3f} | {ROWS / seconds:,.0f} |")


def _duckdb(table: pa.Table, out: Path, runs: int) -> tuple[str, float] | None:
    """DuckDB writing the table as Parquet, when DuckDB is installed (the gateway's extra)."""
    try:
        import duckdb
    except ImportError:
        return None
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    connection.register("travel", table)
    copy = f"COPY travel TO '{out}' (FORMAT parquet)"
    what = f"duckdb {duckdb.__version__}: COPY to Parquet, unmarked"
    return what, timed(lambda: connection.execute(copy), runs)


def tracing(setup: Setup, runs: int) -> None:
    leak = sample(setup.copy(3), LEAK_ROWS, seed=1)
    files = {
        "CSV, ids kept": _csv(leak, setup.folder / "ids.csv"),
        "CSV, ids dropped": _csv(leak.drop(["id_hash"]), setup.folder / "no-ids.csv"),
        "XLSX, ids kept": write_spreadsheet(leak, setup.folder / "ids.xlsx"),
        "XLSX, ids dropped": write_spreadsheet(
            leak.drop(["id_hash"]), setup.folder / "no-ids.xlsx"
        ),
    }
    print(
        f"\n## Tracing a {LEAK_ROWS:,}-row leak against {GRANTS:,} grants, from reading the "
        f"original Parquet file to the report (median of {runs})\n"
    )
    print("| leak | seconds | matched rows | attributed | false-attribution probability |")
    print("|---|--:|--:|---|--:|")
    for what, path in files.items():
        seconds = timed(partial(setup.trace, path), runs)
        report = setup.trace(path)
        named = ", ".join(f"grant {int(g, 16) - 1}" for g in report.attributed)
        print(
            f"| {what} | {seconds:.2f} | {report.matched_rows:,} | {named} "
            f"| {_fap(report.candidates[0].log_fap)} |"
        )


def innocents(setup: Setup, count: int) -> None:
    """P-values of keys that never marked anything, on a 1 % leak with every channel."""
    leak = collude([setup.copy(1), setup.copy(2)], 1_000, seed=9, by="rows")
    observations = observe(
        read_leak(_csv(leak, setup.folder / "innocents.csv")),
        Reference.load(setup.original, SCHEMA, setup.keys),
        [],
    )
    rng = np.random.default_rng(10)
    scope = setup.candidates[0].fields
    grants = [
        (CandidateGrant(f"0x{n:064x}", "innocent", scope), GrantKey(f"0x{n:064x}", rng.bytes(32)))
        for n in range(count)
    ]
    results = score(observations, grants, family=1)
    print(
        f"\n## {count:,} innocent keys on a 1,000-row leak ({len(observations.cells.row):,} "
        f"read cells): share of p-values at or below alpha (the bound promises at most alpha)\n"
    )
    print("| channel | " + " | ".join(f"alpha {a:g}" for a in ALPHAS) + " | smallest p |")
    print("|---|" + "--:|" * (len(ALPHAS) + 1))
    for channel in CHANNELS:
        log_p = np.array([r.channels[channel].log_p for r in results])
        shares = " | ".join(f"{(log_p <= math.log(a)).mean():.5f}" for a in ALPHAS)
        print(f"| {channel} | {shares} | {math.exp(log_p.min()):.2g} |")


@dataclass(frozen=True)
class Leak:
    what: str
    leakers: tuple[int, ...]
    rows: int
    ids: bool
    by: Literal["rows", "majority"] = "rows"


LEAKS = (
    Leak("one grantee, 5 % sample", (3,), 5_000, ids=False),
    Leak("one grantee, 1 % sample", (3,), 1_000, ids=False),
    Leak("one grantee, 0.1 % sample", (3,), 100, ids=False),
    Leak("one grantee, 50 rows", (3,), 50, ids=False),
    Leak("one grantee, 30 rows", (3,), 30, ids=False),
    Leak("one grantee, 20 rows", (3,), 20, ids=False),
    Leak("one grantee, 2 rows with their ids", (3,), 2, ids=True),
    Leak("one grantee, 1 row with its id", (3,), 1, ids=True),
    Leak("2 grantees by rows, 5 %", (1, 2), 5_000, ids=False),
    Leak("2 grantees by rows, 1 %", (1, 2), 1_000, ids=False),
    Leak("2 grantees by per-cell majority, 5 %", (1, 2), 5_000, ids=False, by="majority"),
    Leak("2 grantees by per-cell majority, 1 %", (1, 2), 1_000, ids=False, by="majority"),
    Leak("3 grantees by rows, 5 %", (4, 5, 6), 5_000, ids=False),
    Leak("3 grantees by rows, 1 %", (4, 5, 6), 1_000, ids=False),
    Leak("3 grantees by per-cell majority, 5 %", (4, 5, 6), 5_000, ids=False, by="majority"),
    Leak("3 grantees by per-cell majority, 1 %", (4, 5, 6), 1_000, ids=False, by="majority"),
    Leak("3 grantees by per-cell majority, 0.5 %", (4, 5, 6), 500, ids=False, by="majority"),
    Leak("4 grantees by per-cell majority, 5 %", (4, 5, 6, 7), 5_000, ids=False, by="majority"),
    Leak(
        "6 grantees by per-cell majority, 5 %", tuple(range(4, 10)), 5_000, ids=False, by="majority"
    ),
    Leak("8 grantees by rows, 5 %", tuple(range(4, 12)), 5_000, ids=False),
    Leak(
        "10 grantees by per-cell majority, 5 %",
        tuple(range(4, 14)),
        5_000,
        ids=False,
        by="majority",
    ),
)


def power(setup: Setup, trials: int) -> None:
    copies = {n: setup.copy(n) for leak in LEAKS for n in leak.leakers}
    reference = Reference.load(setup.original, SCHEMA, setup.keys)
    print(
        f"\n## Attribution in {trials} leaks of each kind ({GRANTS:,} candidates, threshold "
        f"{THRESHOLD:g}; ids dropped unless said)\n"
    )
    print("| leak | every leaker named | median / worst log10 FAP of a leaker | innocents named |")
    print("|---|--:|---|--:|")
    for leak in LEAKS:
        named_all, innocent, logs = 0, 0, []
        for seed in range(trials):
            table = collude([copies[n] for n in leak.leakers], leak.rows, seed=seed, by=leak.by)
            if not leak.ids:
                table = table.drop(["id_hash"])
            report = trace(
                _csv(table, setup.folder / "power.csv"),
                reference,
                setup.candidates,
                threshold=THRESHOLD,
            )
            named = {int(g, 16) - 1 for g in report.attributed}
            named_all += named >= set(leak.leakers)
            innocent += len(named - set(leak.leakers))
            ours = [c.log_fap for c in report.candidates if int(c.grant_id, 16) - 1 in leak.leakers]
            logs.append(max(ours) / math.log(10))
        print(
            f"| {leak.what} | {named_all}/{trials} | {statistics.median(logs):.0f} / "
            f"{max(logs):.0f} | {innocent} |"
        )


def _csv(table: pa.Table, path: Path) -> Path:
    pa_csv.write_csv(table, path)
    return path


def _fap(log_fap: float) -> str:
    return f"{math.exp(log_fap):.1g}" if log_fap > -700 else f"1e{log_fap / math.log(10):.0f}"


def host_check() -> float:
    """Seconds for a plain Python loop of 10 million additions: how fast this host runs Python
    at the moment (docs/benchmarks.md uses it throughout)."""
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per figure")
    parser.add_argument("--trials", type=int, default=10, help="leaks per kind in the power table")
    parser.add_argument("--innocents", type=int, default=100_000)
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    print(
        f"host check: 10 million additions in {host_check():.2f} s; load {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        table = generate(ROWS)
        pq.write_table(table, folder / "original.parquet")
        keys = DatasetKeys(DATASET, bytes(range(32)))
        scope = frozenset(SCHEMA.field_index(c) for c in GRANTED)
        candidates = [CandidateGrant(grant_id(n), f"agency {n}", scope) for n in range(GRANTS)]
        setup = Setup(folder, table, folder / "original.parquet", keys, candidates)
        marking(setup, args.runs)
        tracing(setup, args.runs)
        innocents(setup, args.innocents)
        power(setup, args.trials)


if __name__ == "__main__":
    main()
