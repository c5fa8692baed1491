"""The data gateway's throughput, in one run: small deliveries (about 100 rows) per second, and
rows per second of a 100,000-row delivery with marking, against DuckDB serving the same file
unmarked (the ceiling).

    .venv/bin/python bench/gateway.py [--small 40] [--concurrent 40] [--clients 8] [--runs 3]

Setup, fresh every run: a 4-validator testnet on loopback (no demo data), the demo's travel
trace (100,000 rows, Parquet) registered by Jiamusi's Big Data Center with its schema's hash,
Jiamusi's gateway (`cityledger gateway serve`, HTTPS) designated for it, and a grant to
Harbin Health. The client is the SDK (`ledger.deliveries.fetch`), which also checks each
receipt against the file and the record on chain.

Rows, for the same columns (id_hash, visit_time, latitude, longitude, test_result) as CSV:
- DuckDB alone: COPY of those columns from the Parquet file to CSV, in this process (the
  ceiling: no Python per row, no marks, no chain, no network);
- the gateway's copy writer, in this process: DuckDB's Arrow batches written as CSV by the
  gateway's own code (gateway/copies.py), unmarked, then marked for the grant;
- the gateway end to end: a signed request, the grant checked at the latest block, the copy
  marked and spooled, the delivery recorded on chain (one transaction, final before release),
  the file streamed over HTTPS, receipt and record checked by the client.
Small deliveries run one after another (each waits for its record to be final), then from
several clients at once (their records share blocks).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from throughput import cpu_seconds, machine_cpu_seconds

from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.marking import Marker
from cityledger.gateway.copies import write_copy
from cityledger.gateway.sources import Sources
from cityledger.sdk.delivery import Condition
from cityledger.sdk.errors import ContractRevert
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.ledger import Ledger
from cityledger.sdk.models import Grant
from cityledger.sdk.offers import GrantOffer
from cityledger.sdk.signers import load_keystore
from cityledger.testnet import gateways, network
from cityledger.testnet.demo_datasets import TRAVEL_DATASET, DemoDataset, prepare

PASSPHRASE = network.DEFAULT_PASSPHRASE
COLUMNS = ("id_hash", "visit_time", "latitude", "longitude", "test_result")
BATCH_ROWS = 16_384  # the gateway's default


class Load:
    """Wall time, the gateway's CPU time and the machine's busy cores over a stretch of work."""

    def __init__(self, gateway_pid: int) -> None:
        self.pid = gateway_pid
        self._wall, self._cpu = time.perf_counter(), cpu_seconds(gateway_pid)
        self._machine = machine_cpu_seconds()

    def stop(self) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.gateway_cpu = cpu_seconds(self.pid) - self._cpu
        self.cores = (machine_cpu_seconds() - self._machine) / self.seconds


@dataclass(frozen=True)
class Row:
    what: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def median_of(runs: int, measure: Callable[[], Row]) -> Row:
    results = [measure() for _ in range(runs)]
    return sorted(results, key=lambda r: r.seconds)[len(results) // 2]


def timed(what: str, action: Callable[[], int]) -> Row:
    start = time.perf_counter()
    rows = action()
    return Row(what, rows, time.perf_counter() - start)


# ------------------------------------------------------------------ in process


def duckdb_ceiling(source: Path, out: Path) -> int:
    selected = ", ".join(f'"{c}"' for c in COLUMNS)
    connection = duckdb.connect()
    connection.execute(
        f"COPY (SELECT {selected} FROM read_parquet('{source}')) TO '{out}' (HEADER)"
    )
    return int(connection.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0])  # type: ignore[index]


def gateway_writer(dataset: DemoDataset, out: Path, grant_id: str | None) -> int:
    """The gateway's read-mark-write loop, without the chain and HTTP."""
    sources = Sources(memory_mb=256, threads=2)
    served = sources.add(
        dataset.name, dataset_id(dataset.name), dataset.schema, dataset.source.source
    )
    read = list(dict.fromkeys([*COLUMNS, *dataset.schema.key]))
    marker = (
        None
        if grant_id is None
        else Marker(dataset.schema, DatasetKeys.load(dataset.source.secret, PASSPHRASE), grant_id)
    )

    def transform(batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.select(list(COLUMNS)) if marker is None else marker.mark(batch, COLUMNS)

    with sources.scan(served, read, [], BATCH_ROWS) as reader:
        return write_copy(reader, transform, out, "csv")


# ------------------------------------------------------------------ over the network


@contextmanager
def running_network(directory: Path) -> Iterator[network.TestnetInfo]:
    info = network.create(directory / "net", validators=4)
    network.start(info)
    try:
        network.wait_for_block(info, 1)
        yield info
    finally:
        gateways.stop(info)
        network.stop(info)


def ledger(info: network.TestnetInfo, name: str) -> Ledger:
    account = next(a for a in info.admins + info.agencies if Path(a.keystore).stem == name)
    node = next(n for n in info.nodes if n.city == account.city)
    return Ledger.connect(
        node.rpc_url,
        load_keystore(Path(account.keystore), PASSPHRASE),
        consortium=info.system_contracts["Consortium"],
        tls_ca=info.tls_ca,
    )


def grant_to_harbin(owner: Ledger, grantee: Ledger, dataset: DemoDataset, quota: int) -> Grant:
    now = datetime.now(UTC)
    assert owner.address is not None and grantee.address is not None
    offer = GrantOffer.create(
        dataset_id=dataset_id(TRAVEL_DATASET),
        grantor=owner.address,
        grantee=grantee.address,
        purpose="epidemic-control",
        purpose_text="benchmark",
        fields=dataset.schema.field_mask(COLUMNS),
        valid_from=now - timedelta(minutes=1),
        valid_until=now + timedelta(days=1),
        access_quota=quota,
    )
    return grantee.grants.submit(grantee.grants.countersign(owner.grants.offer_file(offer)))


def hundred_rows(table: pa.Table) -> Condition:
    """visit_time before the 101st earliest visit: about 100 rows."""
    times = pc.sort_indices(table, [("visit_time", "ascending")])
    cut = table["visit_time"][times[100].as_py()].as_py()
    return Condition(column="visit_time", op="lt", values=(cut.strftime("%Y-%m-%d %H:%M:%S"),))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--small", type=int, default=40, help="sequential small deliveries")
    parser.add_argument("--concurrent", type=int, default=40, help="concurrent small deliveries")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--runs", type=int, default=3, help="runs of each large measurement")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cityledger-bench-gateway-") as folder:
        work = Path(folder)
        with running_network(work) as info:
            dataset = prepare(Path(info.directory), PASSPHRASE)[TRAVEL_DATASET]
            table = pq.read_table(dataset.source.source)
            owner, harbin = ledger(info, "jiamusi-bdc"), ledger(info, "harbin-health")
            jiamusi = next(g for g in info.gateways if g.city == "Jiamusi")
            owner.datasets.register(
                TRAVEL_DATASET,
                schema=dataset.schema.canonical_json(),
                field_count=len(dataset.schema.columns),
            )
            owner.datasets.set_gateway(TRAVEL_DATASET, jiamusi.address, jiamusi.url)
            gateways.configure(info, jiamusi, [dataset.source])
            gateways.start(info, PASSPHRASE)
            gateways.wait_until_serving(info)
            grant = grant_to_harbin(owner, harbin, dataset, quota=100_000)
            while True:  # until the gateway's node (Jiamusi's, the owner's) has the grant
                try:
                    owner.grants.get(grant.id)
                    break
                except ContractRevert:
                    time.sleep(0.1)

            out = work / "copy.csv"
            rows = [
                median_of(
                    options.runs,
                    lambda: timed(
                        "DuckDB alone (COPY to CSV, unmarked)",
                        lambda: duckdb_ceiling(dataset.source.source, out),
                    ),
                ),
                median_of(
                    options.runs,
                    lambda: timed(
                        "gateway copy writer, in process, unmarked",
                        lambda: gateway_writer(dataset, out, None),
                    ),
                ),
                median_of(
                    options.runs,
                    lambda: timed(
                        "gateway copy writer, in process, marked",
                        lambda: gateway_writer(dataset, out, grant.id),
                    ),
                ),
                median_of(
                    options.runs,
                    lambda: timed(
                        "gateway end to end (check, mark, record, HTTPS, verify)",
                        lambda: harbin.deliveries.fetch(grant.id, out, fields=COLUMNS).receipt.rows,
                    ),
                ),
            ]
            small = [hundred_rows(table)]

            def one_small(_: int = 0) -> int:
                return harbin.deliveries.fetch(
                    grant.id,
                    work / f"small-{time.perf_counter_ns()}.csv",
                    fields=COLUMNS,
                    where=small,
                ).receipt.rows

            assert jiamusi.pid is not None
            latencies = []
            sequential = Load(jiamusi.pid)
            for _ in range(options.small):
                begun = time.perf_counter()
                one_small()
                latencies.append(time.perf_counter() - begun)
            sequential.stop()
            concurrent = Load(jiamusi.pid)
            with ThreadPoolExecutor(options.clients) as pool:
                list(pool.map(one_small, range(options.concurrent)))
            concurrent.stop()

    print("| path | rows | seconds | rows/s | vs DuckDB |")
    print("|---|--:|--:|--:|--:|")
    ceiling = rows[0].rows_per_second
    for row in rows:
        print(
            f"| {row.what} | {row.rows:,} | {row.seconds:.2f} | {row.rows_per_second:,.0f} | "
            f"{row.rows_per_second / ceiling:.3f} |"
        )
    print()
    print(
        "| small deliveries (~100 rows) | deliveries | seconds | deliveries/s | p50 / max s "
        "| gateway CPU ms a delivery | cores busy (of 2) |"
    )
    print("|---|--:|--:|--:|---|--:|--:|")
    for label, count, load, spread in (
        (
            "one client, one after another",
            options.small,
            sequential,
            f"{statistics.median(latencies):.2f} / {max(latencies):.2f}",
        ),
        (f"{options.clients} clients at once", options.concurrent, concurrent, ""),
    ):
        print(
            f"| {label} | {count} | {load.seconds:.1f} | {count / load.seconds:.1f} | {spread} "
            f"| {1000 * load.gateway_cpu / count:.0f} | {load.cores:.2f} |"
        )


if __name__ == "__main__":
    main()
