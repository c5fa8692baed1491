"""Throughput of the dev node beside a fresh anvil, on the same workload, in one run.

    .venv/bin/python bench/throughput.py [--txs 2000]

Workload: one contract (tests/node/Emitter.sol) deployed on each chain, then N pre-signed calls
`store(i, i)` (a storage write and an indexed event each) sent back to back with
eth_sendRawTransaction while another thread polls receipts in JSON-RPC batches. Reports tx/s
(first send to last receipt), p50/p99 submit-to-receipt latency and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

ROOT = Path(__file__).resolve().parent.parent
EMITTER = json.loads((ROOT / "tests" / "node" / "emitter.json").read_text())
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
# anvil's well-known first dev account
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RECEIPT_BATCH = 200


@dataclass(frozen=True)
class Result:
    name: str
    txs: int
    seconds: float
    latencies: list[float]
    peak_rss_mb: float

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_rpc(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.post(url, json=body, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def dev_node() -> Iterator[tuple[str, LocalAccount, subprocess.Popen[bytes]]]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        process = subprocess.Popen(
            [
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
            ],
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_rpc(url, process)
            info = json.loads(Path(f"{tmp}/data/dev.json").read_text())
            yield url, Account.from_key(info["devAccount"]["privateKey"]), process
        finally:
            process.terminate()
            process.wait()


@contextmanager
def anvil() -> Iterator[tuple[str, LocalAccount, subprocess.Popen[bytes]]]:
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
        ],
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_rpc(url, process)
        yield url, Account.from_key(ANVIL_KEY), process
    finally:
        process.terminate()
        process.wait()


def _post(session: requests.Session, url: str, payload: Any) -> Any:
    return session.post(url, json=payload, timeout=60).json()


def run_workload(name: str, url: str, account: LocalAccount, pid: int, count: int) -> Result:
    w3 = Web3(HTTPProvider(url))
    chain_id = w3.eth.chain_id
    deploy = account.sign_transaction(
        {
            "data": EMITTER["bytecode"],
            "gas": 2_000_000,
            "maxFeePerGas": 0,
            "maxPriorityFeePerGas": 0,
            "nonce": w3.eth.get_transaction_count(account.address),
            "chainId": chain_id,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(deploy.raw_transaction), poll_latency=0.05
    )
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=EMITTER["abi"])
    first_nonce = w3.eth.get_transaction_count(account.address)
    raw = [
        "0x"
        + account.sign_transaction(
            {
                "to": contract.address,
                "data": contract.encode_abi("store", [i, i + 1]),
                "gas": 100_000,
                "maxFeePerGas": 0,
                "maxPriorityFeePerGas": 0,
                "nonce": first_nonce + i,
                "chainId": chain_id,
            }
        ).raw_transaction.hex()
        for i in range(count)
    ]
    submitted: dict[str, float] = {}
    received: dict[str, float] = {}
    order: list[str] = []
    done = threading.Event()

    def poll() -> None:
        session = requests.Session()
        while len(received) < count:
            waiting = [h for h in order if h not in received][:RECEIPT_BATCH]
            if not waiting:
                time.sleep(0.005)
                continue
            batch = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
                for i, h in enumerate(waiting)
            ]
            replies = _post(session, url, batch)
            now = time.perf_counter()
            for reply in replies:
                if reply.get("result"):
                    received.setdefault(waiting[reply["id"]], now)
            time.sleep(0.02)
        done.set()

    poller = threading.Thread(target=poll, daemon=True)
    session = requests.Session()
    start = time.perf_counter()
    poller.start()
    for i, tx in enumerate(raw):
        reply = _post(
            session,
            url,
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [tx]},
        )
        if "error" in reply:
            raise RuntimeError(f"{name} refused transaction {i}: {reply['error']}")
        tx_hash = reply["result"]
        submitted[tx_hash] = time.perf_counter()
        order.append(tx_hash)
    done.wait(timeout=600)
    end = max(received.values())
    latencies = [received[h] - submitted[h] for h in order]
    value = contract.functions.values(count - 1).call()
    if value != count:
        raise RuntimeError(f"{name}: final state is wrong ({value} != {count})")
    return Result(name, count, end - start, latencies, peak_rss_mb(pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--txs", type=int, default=2000)
    args = parser.parse_args()
    results = []
    with dev_node() as (url, account, process):
        results.append(run_workload("cityledger dev node", url, account, process.pid, args.txs))
    with anvil() as (url, account, process):
        results.append(run_workload("anvil 1.7.1", url, account, process.pid, args.txs))
    print(f"{args.txs} signed store(i, i) calls, sent back to back; receipts polled in batches")
    print(f"{'chain':<22}{'tx/s':>8}{'p50 s':>8}{'p99 s':>8}{'peak RSS MB':>13}")
    for r in results:
        print(
            f"{r.name:<22}{r.tps:>8.0f}{r.percentile(0.5):>8.2f}{r.percentile(0.99):>8.2f}"
            f"{r.peak_rss_mb:>13.0f}"
        )
    print(f"ratio (dev node / anvil): {results[0].tps / results[1].tps:.2f}")


if __name__ == "__main__":
    main()
