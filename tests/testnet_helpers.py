"""A real local network for a test module: `cityledger testnet up` as a newcomer runs it (4
validator processes), and `testnet down` afterwards, leaving no node running; and the
`cityledger` command run against it as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cityledger.testnet.network import MANIFEST, TestnetInfo, is_running, stop

CITYLEDGER = Path(sys.executable).parent / "cityledger"
PASSPHRASE = "testnet"


@contextmanager
def running_testnet(
    directory: Path, *, demo: bool = True, observers: int = 0
) -> Iterator[TestnetInfo]:
    up = subprocess.run(
        [
            str(CITYLEDGER),
            "testnet",
            "up",
            "--dir",
            str(directory),
            *([] if demo else ["--no-demo"]),
            *(["--observers", str(observers)] if observers else []),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        yield TestnetInfo.read(directory)
    finally:
        subprocess.run(
            [str(CITYLEDGER), "testnet", "down", "--dir", str(directory)], timeout=120, check=False
        )
        if (directory / MANIFEST).exists():
            info = TestnetInfo.read(directory)
            left_running = [n.city for n in info.nodes if is_running(n.pid)]
            stop(info)  # no processes left behind, even when `testnet down` itself failed
            assert not left_running, f"`testnet down` left {left_running} running"


class TestnetCli:
    """`cityledger --json ...` against a network, as its README says to point the CLI at it."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.info = TestnetInfo.read(directory)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
        self.env.update(
            CITYLEDGER_CONFIG=str(directory / "cityledger.toml"), CITYLEDGER_PASSPHRASE=PASSPHRASE
        )

    def run(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(CITYLEDGER), "--json", *(["--key", key] if key else []), *args]
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env, timeout=180, check=False
        )

    def ok(self, *args: str, key: str | None = None) -> Any:
        done = self.run(*args, key=key)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def refused(self, *args: str, key: str | None = None) -> str:
        done = self.run(*args, key=key)
        assert done.returncode != 0 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        return lines[0]
