"""Our own node as a subprocess: a one-city dev chain on a free port (tests may start the node;
the SDK and CLI only ever talk to it over JSON-RPC)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from anvil_helpers import free_port

from cityledger.sdk import Signer

STARTUP_SECONDS = 60


@dataclass(frozen=True)
class DevNode:
    url: str
    consortium: str
    admin: Signer  # the dev city's admin
    city: str


def _answers(url: str) -> bool:
    try:
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
    except requests.ConnectionError:
        return False
    return True


@contextmanager
def dev_node(directory: Path) -> Iterator[DevNode]:
    data_dir = directory / "data"
    port = free_port()
    log_path = directory / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cityledger.node",
                "start",
                "--dev",
                "--data-dir",
                str(data_dir),
                "--rpc-port",
                str(port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=log,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dev node did not start; see {log_path}")
                time.sleep(0.2)
            info = json.loads((data_dir / "dev.json").read_text())
            admin = Signer.from_key(info["devAccount"]["privateKey"])
            yield DevNode(url, info["systemContracts"]["Consortium"], admin, "Dev City")
        finally:
            process.terminate()
            process.wait(timeout=30)
