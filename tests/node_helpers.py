"""Real node processes on free loopback ports, and web3.py v8 helpers for them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.contract import Contract

EMITTER = json.loads((Path(__file__).parent / "node" / "emitter.json").read_text())
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class NodeProcess:
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    options: tuple[str, ...] = ("--dev",)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cityledger.node",
                "start",
                *self.options,
                "--data-dir",
                str(self.data_dir),
                "--rpc-port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}; see {log.name}")
            try:
                self.rpc("web3_clientVersion")
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("node did not answer JSON-RPC in time")

    def rpc(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        response: dict[str, Any] = requests.post(self.url, json=body, timeout=10).json()
        return response

    def post(self, payload: Any) -> requests.Response:
        return requests.post(self.url, json=payload, timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process = None
        return code

    @property
    def dev_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.data_dir / "dev.json").read_text())
        return info

    def web3(self) -> Web3:
        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 30}))

    def admin(self) -> LocalAccount:
        account: LocalAccount = Account.from_key(self.dev_info["devAccount"]["privateKey"])
        return account


def send(w3: Web3, account: LocalAccount, tx: dict[str, Any]) -> HexBytes:
    """Signs and submits with explicit nonce, gas and zero fees (web3 fills nothing)."""
    full = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gas": 1_000_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
        **tx,
    }
    signed = account.sign_transaction(full)
    tx_hash: HexBytes = w3.eth.send_raw_transaction(signed.raw_transaction)
    return tx_hash


def deploy_emitter(w3: Web3, account: LocalAccount) -> Contract:
    tx_hash = send(w3, account, {"data": EMITTER["bytecode"], "gas": 2_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
    assert receipt["status"] == 1
    return cast(Contract, w3.eth.contract(address=receipt["contractAddress"], abi=EMITTER["abi"]))
