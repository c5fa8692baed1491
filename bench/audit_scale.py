"""Audit at scale: how an auditor's questions cost as the chain grows (issue 19's table).

    .venv/bin/python bench/audit_scale.py [--sizes 1000,10000,100000,1000000] [--peer-up-to 100000]
        [--data-dir DIR]

Workload: on a fresh dev node, eight grantees record accesses under their grants on one busy
dataset (pre-signed `AccessLog.recordAccess` calls, sent in JSON-RPC batches of 200 and in waves
that keep each city's pending transactions under the pool's cap), while a quiet dataset keeps
ten events. At each size the run measures, as an auditor would meet them:

- `cityledger audit trace --dataset QUIET` (wall time, process start-up included) and the CPU
  the node spent answering it;
- eth_getLogs for the quiet dataset as the SDK sends it (address and topics) and the same topic
  without the address (median of 5);
- `cityledger audit trace --dataset BUSY --format jsonl` (every event streamed: wall time and
  events a second);
- the node's resident memory.

The peer, in the same run: anvil with interval mining (`--block-time 1`) grown the same way, up
to `--peer-up-to` accesses (anvil keeps every log in memory and answers eth_getLogs by scanning).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import coincurve
from eth_utils import function_signature_to_4byte_selector, keccak
from throughput import free_port, machine_cpu_seconds, wait_for_rpc

from cityledger.contracts.deployment import ConsortiumSpec, FoundingAgency, FoundingCity
from cityledger.node.execution.raw_rlp import encode_items
from cityledger.node.initialize import dev_accounts
from cityledger.sdk import Ledger, Signer, deploy
from cityledger.sdk.grants_client import dataset_id
from cityledger.sdk.history import TopicFilter
from cityledger.sdk.offers import GrantOffer

ROOT = Path(__file__).resolve().parent.parent
CITYLEDGER = Path(sys.executable).parent / "cityledger"
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
BUSY, QUIET = "bench/busy-dataset", "bench/quiet-dataset"
GRANTEES = 8
RPC_BATCH = 200
# The pool admits 5,000 pending transactions per city (the dev city has all the senders): waves
# are sent while the pending ones stay under that.
WAVE = 2_000
MAX_PENDING = 4_000
ACCESS_GAS = 100_000  # recordAccess uses about 75,000; blocks are filled by gas limits
RECORD_ACCESS = function_signature_to_4byte_selector("recordAccess(bytes32,bytes32,uint64,uint256)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Rpc:
    """JSON-RPC over one keep-alive connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=300)
        self._id = 0

    def post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        self._connection.request("POST", "/", body, {"Content-Type": "application/json"})
        return json.loads(self._connection.getresponse().read())

    def call(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        answer = self.post({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


@dataclass
class Chain:
    name: str
    url: str
    pid: int
    consortium: str
    chain_id: int


def signed_record_access(
    key: coincurve.PrivateKey, chain_id: int, nonce: int, access_log: bytes, grant: bytes, n: int
) -> str:
    """An EIP-1559 transaction calling recordAccess, signed without eth-account (a million of
    them must take a minute, not twenty)."""
    data = (
        RECORD_ACCESS
        + grant
        + keccak(n.to_bytes(8, "big"))
        + (1 + n % 50).to_bytes(32, "big")
        + (1).to_bytes(32, "big")
    )
    fields = [chain_id, nonce, 0, 0, ACCESS_GAS, access_log, 0, data, []]
    items = [
        f.to_bytes((f.bit_length() + 7) // 8, "big") if isinstance(f, int) else f for f in fields
    ]
    signature = key.sign_recoverable(keccak(b"\x02" + encode_items(items)), hasher=None)
    r, s, v = signature[:32].lstrip(b"\0"), signature[32:64].lstrip(b"\0"), signature[64]
    return "0x02" + encode_items([*items, bytes([v]) if v else b"", r, s]).hex()


@dataclass
class Workload:
    chain: Chain
    access_log: bytes
    busy_grants: list[bytes]
    grantees: list[coincurve.PrivateKey]
    addresses: list[str]
    recorded: int = 0

    def grow_to(self, total: int) -> None:
        rpc = Rpc(self.chain.url)

        def final_nonces() -> list[int]:
            answers = rpc.post(
                [
                    {
                        "jsonrpc": "2.0",
                        "id": i,
                        "method": "eth_getTransactionCount",
                        "params": [a, "latest"],
                    }
                    for i, a in enumerate(self.addresses)
                ]
            )
            return [int(a["result"], 16) for a in sorted(answers, key=lambda a: a["id"])]

        nonces = final_nonces()
        while self.recorded < total or sum(nonces) > sum(final_nonces()):
            if self.recorded < total and sum(nonces) - sum(final_nonces()) < MAX_PENDING - WAVE:
                self._send_wave(rpc, nonces, min(WAVE, total - self.recorded))
                print(f"  {self.chain.name}: {self.recorded:,} sent", file=sys.stderr, flush=True)
            else:
                time.sleep(0.1)

    def _send_wave(self, rpc: Rpc, nonces: list[int], wave: int) -> None:
        raws = []
        for i in range(wave):
            g = (self.recorded + i) % GRANTEES
            raws.append(
                signed_record_access(
                    self.grantees[g],
                    self.chain.chain_id,
                    nonces[g],
                    self.access_log,
                    self.busy_grants[g],
                    self.recorded + i,
                )
            )
            nonces[g] += 1
        for start in range(0, len(raws), RPC_BATCH):
            answers = rpc.post(
                [
                    {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
                    for i, raw in enumerate(raws[start : start + RPC_BATCH])
                ]
            )
            refused = [a for a in answers if "error" in a]
            if refused:
                raise RuntimeError(f"refused: {refused[0]['error']}")
        self.recorded += wave


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int, kind: str = "VmRSS") -> float:
    """Resident memory from /proc: all of it (VmRSS), or the process's own (RssAnon) without
    the file pages LevelDB maps, which the kernel reclaims as page cache."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cli(chain: Chain, *args: str) -> tuple[float, int]:
    """Wall seconds of one CLI run, and its stdout's line count."""
    env = {
        **os.environ,
        "CITYLEDGER_RPC": chain.url,
        "CITYLEDGER_CONSORTIUM": chain.consortium,
        "CITYLEDGER_HOME": tempfile.mkdtemp(),
    }
    started = time.monotonic()
    process = subprocess.Popen([str(CITYLEDGER), *args], stdout=subprocess.PIPE, env=env, text=True)
    assert process.stdout is not None
    lines = sum(1 for _ in process.stdout)
    if process.wait() != 0:
        raise RuntimeError(f"cityledger {' '.join(args)} failed")
    return time.monotonic() - started, lines


def get_logs_ms(chain: Chain, params: dict[str, Any]) -> float:
    rpc = Rpc(chain.url)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        rpc.call("eth_getLogs", [params])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@dataclass
class Row:
    chain: str
    accesses: int
    quiet_trace_s: float
    quiet_node_cpu_s: float
    quiet_logs_ms: float
    quiet_topic_only_ms: float
    busy_trace_s: float
    busy_events: int
    rss_mb: float
    anon_rss_mb: float
    other_load: float  # cores other processes kept busy during the busy trace

    @property
    def busy_rate(self) -> float:
        return self.busy_events / self.busy_trace_s if self.busy_trace_s else 0.0


def measure(workload: Workload) -> Row:
    chain = workload.chain
    quiet_topic = "0x" + dataset_id(QUIET)[2:]
    access_recorded = (
        "0x"
        + keccak(
            text="AccessRecorded(bytes32,address,bytes32,address,bytes32,uint64,uint32,uint256)"
        ).hex()
    )
    before = cpu_seconds(chain.pid)
    quiet_s, _ = cli(chain, "--json", "audit", "trace", "--dataset", QUIET)
    quiet_cpu = cpu_seconds(chain.pid) - before
    with_address = get_logs_ms(
        chain,
        {
            "address": "0x" + workload.access_log.hex(),
            "fromBlock": "0x0",
            "toBlock": "latest",
            "topics": [access_recorded, None, None, quiet_topic],
        },
    )
    topic_only = get_logs_ms(
        chain,
        {"fromBlock": "0x0", "toBlock": "latest", "topics": [None, None, None, quiet_topic]},
    )
    machine, node = machine_cpu_seconds(), cpu_seconds(chain.pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_s, busy_lines = cli(chain, "audit", "trace", "--dataset", BUSY, "--format", "jsonl")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = cpu_seconds(chain.pid) - node + (after.ru_utime + after.ru_stime)
    ours -= children.ru_utime + children.ru_stime
    other = max(0.0, (machine_cpu_seconds() - machine - ours) / busy_s)
    return Row(
        chain.name,
        workload.recorded,
        quiet_s,
        quiet_cpu,
        with_address,
        topic_only,
        busy_s,
        busy_lines,
        rss_mb(chain.pid),
        rss_mb(chain.pid, "RssAnon"),
        other,
    )


def set_up(chain: Chain, admin: Signer, accounts: list[Signer]) -> Workload:
    """Two datasets, a grant to each of eight grantees on the busy one, and the quiet dataset's
    ten events (registration, a grant offered and accepted, seven accesses)."""
    owner = Ledger.connect(chain.url, accounts[0], consortium=chain.consortium)
    for name in (BUSY, QUIET):
        owner.datasets.register(name, schema=f"{name} schema", field_count=4)
    now = datetime.now(UTC)

    def grant(dataset: str, grantee: Signer) -> bytes:
        offer = GrantOffer.create(
            dataset_id=dataset_id(dataset),
            grantor=accounts[0].address,
            grantee=grantee.address,
            purpose="audit-benchmark",
            purpose_text="benchmark",
            fields=0b1111,
            valid_from=now - timedelta(minutes=5),
            valid_until=now + timedelta(days=30),
            access_quota=2**32 - 1,
        )
        ledger = Ledger.connect(chain.url, grantee, consortium=chain.consortium)
        submitted = ledger.grants.submit(ledger.grants.countersign(owner.grants.offer_file(offer)))
        return bytes.fromhex(submitted.id[2:])

    grantees = accounts[1 : 1 + GRANTEES]
    busy = [grant(BUSY, g) for g in grantees]
    quiet_grantee = accounts[1 + GRANTEES]
    quiet = grant(QUIET, quiet_grantee)
    quiet_ledger = Ledger.connect(chain.url, quiet_grantee, consortium=chain.consortium)
    for n in range(7):
        quiet_ledger.access.record("0x" + quiet.hex(), query=f"quiet {n}", records=n, fields=1)
    access_log = bytes.fromhex(owner.chain.addresses["AccessLog"][2:])
    return Workload(
        chain,
        access_log,
        busy,
        [coincurve.PrivateKey(g.private_key) for g in grantees],
        [g.address for g in grantees],
    )


def resume(chain: Chain, accounts: list[Signer]) -> Workload:
    """The workload of a chain grown by an earlier run (`--data-dir`): its busy grants, found
    by their offers, and the accesses they hold."""
    reader = Ledger.connect(chain.url, consortium=chain.consortium)
    offers = reader.history.events([TopicFilter("DataGrants", ("GrantOffered",))])
    busy_by_grantee = {
        e.args["offer"]["grantee"]: str(e.args["grantId"])
        for e in offers
        if e.args["offer"]["datasetId"] == dataset_id(BUSY)
    }
    grantees = accounts[1 : 1 + GRANTEES]
    busy = [busy_by_grantee[g.address] for g in grantees]
    return Workload(
        chain,
        bytes.fromhex(reader.chain.addresses["AccessLog"][2:]),
        [bytes.fromhex(g[2:]) for g in busy],
        [coincurve.PrivateKey(g.private_key) for g in grantees],
        [g.address for g in grantees],
        recorded=sum(reader.grants.get(g).accesses_used for g in busy),
    )


@contextmanager
def dev_node(directory: Path) -> Iterator[tuple[Chain, list[Signer]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cityledger.node",
            "start",
            "--dev",
            "--data-dir",
            str(directory / "dev"),
            "--rpc-port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(url, process)
        info = json.loads((directory / "dev" / "dev.json").read_text())
        accounts = [Signer.from_key(a.private_key) for a in dev_accounts()]
        yield (
            Chain(
                "cityledger dev node",
                url,
                process.pid,
                info["systemContracts"]["Consortium"],
                int(info["chainId"]),
            ),
            accounts,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def anvil(directory: Path) -> Iterator[tuple[Chain, list[Signer]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(ANVIL),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--silent",
            "--base-fee",
            "0",
            "--gas-price",
            "0",
            "--block-time",
            "1",
            "--gas-limit",
            "30000000",
            "--accounts",
            "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_rpc(url, process)
        accounts = [Signer.from_key(a.private_key) for a in dev_accounts()]
        admin = Signer.from_key(keccak(text="bench admin"))
        spec = ConsortiumSpec(
            cities=(
                FoundingCity(
                    "Bench City", admin.address, Signer.from_key(keccak(text="v")).address, "bench"
                ),
            ),
            agencies=tuple(
                FoundingAgency(a.address, "Bench City", f"Agency {i}", 3)
                for i, a in enumerate(accounts)
            ),
        )
        manifest = deploy(url, accounts[0], spec)
        yield (
            Chain("anvil --block-time 1", url, process.pid, manifest.consortium, manifest.chain_id),
            accounts,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)


def run(make: Callable[[Path], Any], sizes: list[int], directory: Path) -> list[Row]:
    rows = []
    grown = (directory / "dev" / "dev.json").exists() and make is dev_node
    with make(directory) as (chain, accounts):
        workload = resume(chain, accounts) if grown else set_up(chain, accounts[0], accounts)
        print(f"  {chain.name}: {workload.recorded:,} accesses at the start", file=sys.stderr)
        for size in sizes:
            workload.grow_to(size)
            rows.append(measure(workload))
            print(table([rows[-1]]), file=sys.stderr, flush=True)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| chain | busy accesses | quiet trace (s) | node CPU, quiet trace (s) "
        "| eth_getLogs quiet, as the SDK sends it (ms) | same topic, no address (ms) "
        "| busy trace (s) | busy events/s | node RSS (MiB) | of it anonymous (MiB) | other load |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.chain} | {r.accesses:,} | {r.quiet_trace_s:.2f} | {r.quiet_node_cpu_s:.2f} | "
            f"{r.quiet_logs_ms:.1f} | {r.quiet_topic_only_ms:.1f} | {r.busy_trace_s:.2f} | "
            f"{r.busy_rate:,.0f} | {r.rss_mb:.0f} | {r.anon_rss_mb:.0f} | {r.other_load:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--peer-up-to", type=int, default=100_000)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the dev node's chain here; a chain grown there before is grown on from where "
        "it stopped (1,000,000 accesses take hours on two cores)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.data_dir or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        rows = run(dev_node, sizes, directory)
        peer_sizes = [s for s in sizes if s <= args.peer_up_to]
        if peer_sizes:
            rows += run(anvil, peer_sizes, Path(directory))
    print(table(rows))


if __name__ == "__main__":
    main()
