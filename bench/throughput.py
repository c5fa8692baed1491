"""Throughput and time to finality of the dev node, anvil and a 4-validator testnet, in one run.

    .venv/bin/python bench/throughput.py [--txs 2000] [--targets dev,anvil,testnet]

The peer is anvil with interval mining (`--block-time 1`), which batches transactions into
blocks as the node does; `--targets ...,anvil-automine` adds anvil's default of a block a
transaction, which flatters a batching chain.

Workload: one contract (tests/node/Emitter.sol) deployed on each chain, then N pre-signed calls
`store(i, i + 1)` (a storage write and an indexed event each) sent back to back with
eth_sendRawTransaction. On the testnet the calls are spread round-robin over the four nodes,
each node taking one city admin's calls (a sender's nonces stay in order on the node that
admits them). Meanwhile another thread follows each node's new blocks: a call is final when the
block holding it is visible at the node it was sent to (no forks; a block and its receipts are
committed together). Every receipt is checked afterwards.

Every target is a fresh instance. Reported per target: tx/s (first send to last call final),
p50 and p99 time to finality, how many blocks the calls took, CPU seconds of each server process
and of this client during the run, what else on the machine ran meanwhile, and each server
process's peak RSS. The testnet runs a second time, on a fresh network, with sends paced at half
of the throughput it just reached.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from cityledger.testnet import network

ROOT = Path(__file__).resolve().parent.parent
EMITTER = json.loads((ROOT / "tests" / "node" / "emitter.json").read_text())
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
# anvil's well-known first dev account
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PEER = "anvil 1.7.1 --block-time 1"
RPC_BATCH = 200  # the node's default limit on JSON-RPC batch requests
FINALITY_POLL_SECONDS = 0.02
WORKLOAD_TIMEOUT_SECONDS = 600
TESTNET_VALIDATORS = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Lane:
    """One sender account and the RPC endpoint all its transactions go through."""

    url: str
    account: LocalAccount


@dataclass(frozen=True)
class Target:
    name: str
    lanes: tuple[Lane, ...]
    pids: tuple[int, ...]  # the server processes whose CPU and memory are reported


@dataclass(frozen=True)
class Result:
    name: str
    txs: int
    seconds: float
    sending_seconds: float  # until the last call was submitted
    latencies: list[float]
    server_cpu_seconds: tuple[float, ...]
    client_cpu_seconds: float
    peak_rss_mb: tuple[float, ...]
    machine_cpu_seconds: float
    blocks: int
    paced_rate: float | None = None

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cores_busy(self) -> float:
        """Average number of cores kept busy by the servers and this client together."""
        return (sum(self.server_cpu_seconds) + self.client_cpu_seconds) / self.seconds

    @property
    def other_cores_busy(self) -> float:
        """Cores other processes on the machine took meanwhile: noise in the measurement."""
        return max(0.0, self.machine_cpu_seconds / self.seconds - self.cores_busy)


def _request(method: str, params: list[Any], request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_rpc(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            RpcConnection(url, timeout=2).post(_request("eth_chainId", []))
            return
        except ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time all cores spent busy so far (the aggregate line of /proc/stat, minus idle and
    iowait)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def client_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@contextmanager
def server(command: list[str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        wait_for_rpc(url, process)
        yield process
    finally:
        process.terminate()
        process.wait()


@contextmanager
def dev_node() -> Iterator[Target]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable,
            "-m",
            "cityledger.node",
            "start",
            "--dev",
            "--data-dir",
            f"{tmp}/data",
            "--rpc-port",
            str(port),
            "--log-level",
            "warning",
        ]
        with server(command, url) as process:
            info = json.loads(Path(f"{tmp}/data/dev.json").read_text())
            account = Account.from_key(info["devAccount"]["privateKey"])
            yield Target("cityledger dev node", (Lane(url, account),), (process.pid,))


def _anvil(name: str, mining: list[str]) -> Iterator[Target]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    command += ["--base-fee", "0", "--gas-price", "0", *mining]
    with server(command, url) as process:
        yield Target(name, (Lane(url, Account.from_key(ANVIL_KEY)),), (process.pid,))


@contextmanager
def anvil() -> Iterator[Target]:
    """The peer: interval mining batches transactions into blocks, as the node does."""
    yield from _anvil(PEER, ["--block-time", "1"])


@contextmanager
def anvil_automine() -> Iterator[Target]:
    """One block a transaction: flatters a batching chain, shown only when asked for."""
    yield from _anvil("anvil 1.7.1, automine", [])


@contextmanager
def testnet() -> Iterator[Target]:
    """A fresh 4-validator network; lane i is node i with its own city's admin."""
    with tempfile.TemporaryDirectory() as tmp:
        info = network.create(Path(tmp) / "testnet", validators=TESTNET_VALIDATORS)
        try:
            network.start(info)
            network.wait_for_block(info, 1)
            lanes = []
            for node in info.nodes:
                admin = next(a for a in info.admins if a.city == node.city)
                keystore = json.loads(Path(admin.keystore).read_text())
                key = Account.decrypt(keystore, network.DEFAULT_PASSPHRASE)
                lanes.append(Lane(node.rpc_url, Account.from_key(key)))
            pids = tuple(n.pid for n in info.nodes if n.pid is not None)
            yield Target(f"{TESTNET_VALIDATORS}-validator testnet", tuple(lanes), pids)
        finally:
            network.stop(info)


class RpcConnection:
    """One keep-alive HTTP connection for JSON-RPC, on the standard library's http.client.

    The client shares the machine's two cores with the servers it measures: `requests` spent
    about 1 ms of CPU per call, a sixth of the machine during a testnet run, which this takes
    back. The same client drives every target."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = parts.path or "/"
        self._timeout = timeout
        self._connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        try:
            self._connection.request("POST", self._path, body, headers)
            response = self._connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: the request never reached it.
            self._connection.close()
            self._connection = self._connect()
            self._connection.request("POST", self._path, body, headers)
            response = self._connection.getresponse()
        return json.loads(response.read())


def deploy_emitter(lane: Lane) -> Contract:
    w3 = Web3(HTTPProvider(lane.url))
    deploy = lane.account.sign_transaction(
        {
            "data": EMITTER["bytecode"],
            "gas": 2_000_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "nonce": w3.eth.get_transaction_count(lane.account.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(deploy.raw_transaction), poll_latency=0.05
    )
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=EMITTER["abi"])
    assert isinstance(contract, Contract)  # given an address, web3 returns an instance
    return contract


def stored_value(url: str, contract: Contract, key: int) -> int:
    at_url = Web3(HTTPProvider(url)).eth.contract(address=contract.address, abi=EMITTER["abi"])
    return int(at_url.functions.values(key).call())


def sign_calls(target: Target, contract: Contract, count: int) -> list[tuple[Lane, str]]:
    """Call i goes through lane i mod #lanes, signed by that lane's account."""
    chain_id = contract.w3.eth.chain_id
    nonces: dict[str, int] = {
        lane.account.address: Web3(HTTPProvider(lane.url)).eth.get_transaction_count(
            lane.account.address, "pending"
        )
        for lane in target.lanes
    }
    calls = []
    for i in range(count):
        lane = target.lanes[i % len(target.lanes)]
        signed = lane.account.sign_transaction(
            {
                "to": contract.address,
                "data": contract.encode_abi("store", [i, i + 1]),
                "gas": 100_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "nonce": nonces[lane.account.address],
                "chainId": chain_id,
            }
        )
        nonces[lane.account.address] += 1
        calls.append((lane, "0x" + signed.raw_transaction.hex()))
    return calls


def _head_number(connection: RpcConnection) -> int:
    return int(connection.post(_request("eth_blockNumber", []))["result"], 16)


class FinalityWatcher:
    """Notes when each sent transaction's block first became visible at the node it was sent
    through. A node commits a block together with its receipts, so that is when the receipt
    became visible. One small request per node per poll (the head number, then any new blocks)
    keeps the watching from loading the servers, as polling every pending receipt would."""

    def __init__(self, lanes: tuple[Lane, ...], count: int) -> None:
        self._count = count
        self._urls = list(dict.fromkeys(lane.url for lane in lanes))
        self._heads = {url: _head_number(RpcConnection(url)) for url in self._urls}
        self._seen: dict[str, dict[str, float]] = {url: {} for url in self._urls}
        self._block_of: dict[str, dict[str, int]] = {url: {} for url in self._urls}
        self._sent: dict[str, str] = {}  # transaction hash -> the URL it was sent to
        self._lock = threading.Lock()
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sent(self, url: str, tx_hash: str) -> None:
        with self._lock:
            self._sent[tx_hash.lower()] = url

    def final_at(self, tx_hash: str) -> float:
        tx_hash = tx_hash.lower()
        return self._seen[self._sent[tx_hash]][tx_hash]

    @property
    def blocks(self) -> int:
        """How many blocks the sent transactions went into."""
        with self._lock:
            return len({self._block_of[url][h] for h, url in self._sent.items()})

    @property
    def final_count(self) -> int:
        with self._lock:
            return sum(1 for h, url in self._sent.items() if h in self._seen[url])

    def _poll(self) -> None:
        connections = {url: RpcConnection(url) for url in self._urls}
        while self.final_count < self._count:
            for url in self._urls:
                self._read_new_blocks(connections[url], url)
            time.sleep(FINALITY_POLL_SECONDS)
        self.done.set()

    def _read_new_blocks(self, connection: RpcConnection, url: str) -> None:
        head = _head_number(connection)
        if head <= self._heads[url]:
            return
        seen, block_of = self._seen[url], self._block_of[url]
        for first in range(self._heads[url] + 1, head + 1, RPC_BATCH):
            blocks = range(first, min(first + RPC_BATCH, head + 1))
            replies = connection.post(
                [_request("eth_getBlockByNumber", [hex(n), False], n) for n in blocks]
            )
            now = time.perf_counter()
            for reply in replies:
                for tx_hash in reply["result"]["transactions"]:
                    seen.setdefault(tx_hash.lower(), now)
                    block_of.setdefault(tx_hash.lower(), reply["id"])
        self._heads[url] = head


def failed_receipts(url: str, tx_hashes: list[str]) -> int:
    """How many of these transactions' receipts at `url` are missing or say the call failed."""
    connection = RpcConnection(url)
    failed = 0
    for start in range(0, len(tx_hashes), RPC_BATCH):
        chunk = tx_hashes[start : start + RPC_BATCH]
        batch = [_request("eth_getTransactionReceipt", [h], i) for i, h in enumerate(chunk)]
        for reply in connection.post(batch):
            receipt = reply.get("result")
            failed += receipt is None or receipt["status"] != "0x1"
    return failed


def submit_lane(
    name: str,
    lane: Lane,
    calls: list[tuple[Lane, str]],
    start: float,
    rate: float | None,
    watcher: FinalityWatcher,
) -> dict[str, float]:
    """Sends this lane's share of the calls, call i at `start + i / rate` if paced; returns when
    each was submitted, by transaction hash."""
    connection = RpcConnection(lane.url)
    submitted = {}
    for i, (via, tx) in enumerate(calls):
        if via is not lane:
            continue
        if rate is not None:
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent_at = time.perf_counter()
        reply = connection.post(_request("eth_sendRawTransaction", [tx], i))
        if "error" in reply:
            raise RuntimeError(f"{name} refused transaction {i}: {reply['error']}")
        submitted[reply["result"]] = sent_at
        watcher.sent(lane.url, reply["result"])
    return submitted


def run_workload(target: Target, count: int, rate: float | None = None) -> Result:
    """Sends `count` calls as fast as possible, or `rate` per second, and waits until all are
    final; then checks every receipt and the contract's last stored value."""
    contract = deploy_emitter(target.lanes[0])
    calls = sign_calls(target, contract, count)
    watcher = FinalityWatcher(target.lanes, count)
    server_cpu_before = [cpu_seconds(pid) for pid in target.pids]
    client_cpu_before = client_cpu_seconds()
    machine_cpu_before = machine_cpu_seconds()
    start = time.perf_counter()
    watcher.start()
    # One client thread per node, as independent clients would send.
    with ThreadPoolExecutor(len(target.lanes)) as senders:
        sending = [
            senders.submit(submit_lane, target.name, lane, calls, start, rate, watcher)
            for lane in target.lanes
        ]
        submitted = {
            h: (lane, t)
            for f, lane in zip(sending, target.lanes, strict=True)
            for h, t in f.result().items()
        }
    sent = time.perf_counter()
    if not watcher.done.wait(timeout=WORKLOAD_TIMEOUT_SECONDS):
        raise RuntimeError(f"{target.name}: {watcher.final_count} of {count} final in time")
    server_cpu = tuple(
        cpu_seconds(pid) - before
        for pid, before in zip(target.pids, server_cpu_before, strict=True)
    )
    client_cpu = client_cpu_seconds() - client_cpu_before
    machine_cpu = machine_cpu_seconds() - machine_cpu_before
    for lane in target.lanes:
        sent_here = [h for h, (via, _) in submitted.items() if via is lane]
        failed = failed_receipts(lane.url, sent_here)
        if failed:
            raise RuntimeError(f"{target.name}: {failed} calls via {lane.url} failed")
    last_lane = calls[-1][0]
    value = stored_value(last_lane.url, contract, count - 1)
    if value != count:
        raise RuntimeError(f"{target.name}: final state at {last_lane.url} is {value}, not {count}")
    return Result(
        target.name,
        count,
        max(watcher.final_at(h) for h in submitted) - start,
        sent - start,
        [watcher.final_at(h) - sent_at for h, (_, sent_at) in submitted.items()],
        server_cpu,
        client_cpu,
        tuple(peak_rss_mb(pid) for pid in target.pids),
        machine_cpu,
        watcher.blocks,
        rate,
    )


TARGETS: dict[str, Callable[[], AbstractContextManager[Target]]] = {
    "dev": dev_node,
    "anvil": anvil,
    "anvil-automine": anvil_automine,
    "testnet": testnet,
}


def run_targets(names: list[str], count: int) -> list[Result]:
    results = []
    for name in names:
        with TARGETS[name]() as target:
            results.append(run_workload(target, count))
        if name == "testnet":
            # Issue 4's latency target is stated at half of the network's peak load.
            with TARGETS[name]() as target:
                results.append(run_workload(target, count, rate=results[-1].tps / 2))
    return results


def _per_process(values: tuple[float, ...], digits: int) -> str:
    shown = " / ".join(f"{v:.{digits}f}" for v in values)
    return shown if len(values) == 1 else f"{shown} (sum {sum(values):.{digits}f})"


def markdown_table(results: list[Result]) -> str:
    anvil_tps = next((r.tps for r in results if r.name == PEER), None)
    rows = [
        "| target | tx/s | vs anvil | sent in s | p50 finality s | p99 finality s | blocks "
        "| server CPU s | client CPU s | cores busy | other load | peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|---|",
    ]
    for r in results:
        name = r.name if r.paced_rate is None else f"{r.name}, paced at {r.paced_rate:.0f} tx/s"
        ratio = "-" if anvil_tps is None or r.paced_rate is not None else f"{r.tps / anvil_tps:.2f}"
        rows.append(
            f"| {name} | {r.tps:.0f} | {ratio} | {r.sending_seconds:.1f} | {r.percentile(0.5):.2f} "
            f"| {r.percentile(0.99):.2f} | {r.blocks} | {_per_process(r.server_cpu_seconds, 1)} "
            f"| {r.client_cpu_seconds:.1f} | {r.cores_busy:.2f} | {r.other_cores_busy:.2f} "
            f"| {_per_process(r.peak_rss_mb, 0)} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument(
        "--targets",
        default="dev,anvil,testnet",
        help=f"comma-separated, in the order to run: {', '.join(TARGETS)}",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {list(TARGETS)}")
    # The testnet's nodes run in their own sessions: on SIGTERM, unwind so that they are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"{parser.prog}: terminated"))
    results = run_targets(names, args.txs)
    print(
        f"{args.txs} signed store(i, i + 1) calls per target, {os.cpu_count()} cores. Finality: "
        "from submission until the call's block is visible at the node it was sent to. "
        "Cores busy: (server + client CPU s) / run time; other load: cores that other processes "
        "on the machine took meanwhile.\n"
    )
    print(markdown_table(results))


if __name__ == "__main__":
    main()
