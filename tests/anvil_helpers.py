"""An anvil process on a free port, and the test consortium the SDK deploys on it."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from eth_utils import keccak

from cityledger.contracts.deployment import ConsortiumSpec, FoundingAgency, FoundingCity
from cityledger.sdk import Manifest, Signer, deploy

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "node_modules" / ".bin" / "anvil"
# anvil's well-known default account 0.
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

GRANTOR, GRANTEE, AUDITOR, ALLOCATOR = 1, 2, 4, 8
CITIES = ("Harbin", "Qiqihar", "Jiamusi", "Daqing")
# key name -> (city, agency name, roles)
AGENCIES = {
    "jiamusi.bdc": ("Jiamusi", "Jiamusi Big Data Center", GRANTOR | GRANTEE),
    "harbin.health": ("Harbin", "Harbin Health Commission", GRANTEE),
    "harbin.audit": ("Harbin", "Provincial Data Audit Office", AUDITOR),
    "qiqihar.emergency": ("Qiqihar", "Qiqihar Emergency Management Bureau", ALLOCATOR),
}


def role_key(name: str) -> Signer:
    """A deterministic key per role name, so tests and their output are reproducible."""
    return Signer.from_key(keccak(text=f"cityledger test key {name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(ANVIL),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--silent",
                "--base-fee",
                "0",
                "--gas-price",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.post(
                    self.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1
                )
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("anvil did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def rpc(self, method: str, params: list[Any]) -> object:
        reply = requests.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            timeout=10,
        ).json()
        return reply.get("result")

    def advance(self, seconds: int) -> None:
        """Moves chain time forward and mines a block at the new time."""
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])


def consortium_spec() -> ConsortiumSpec:
    return ConsortiumSpec(
        cities=tuple(
            FoundingCity(
                c,
                role_key(f"{c.lower()}.admin").address,
                role_key(f"{c.lower()}.validator").address,
                "Heilongjiang",
            )
            for c in CITIES
        ),
        agencies=tuple(
            FoundingAgency(role_key(key).address, city, name, roles)
            for key, (city, name, roles) in AGENCIES.items()
        ),
    )


@dataclass(frozen=True)
class Deployed:
    anvil: Anvil
    manifest: Manifest
    manifest_path: Path


def deploy_consortium(anvil: Anvil, directory: Path) -> Deployed:
    path = directory / "manifest.json"
    manifest = deploy(anvil.url, Signer.from_key(ANVIL_KEY), consortium_spec(), manifest_path=path)
    return Deployed(anvil, manifest, path)
