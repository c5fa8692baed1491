"""A real local network for a test module: `cityledger testnet up` as a newcomer runs it (4
validator processes), and `testnet down` afterwards, leaving no node running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityledger.testnet.network import MANIFEST, TestnetInfo, is_running

CITYLEDGER = Path(sys.executable).parent / "cityledger"
PASSPHRASE = "testnet"


@contextmanager
def running_testnet(directory: Path, *, demo: bool = True) -> Iterator[TestnetInfo]:
    up = subprocess.run(
        [
            str(CITYLEDGER),
            "testnet",
            "up",
            "--dir",
            str(directory),
            *([] if demo else ["--no-demo"]),
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
            assert not any(is_running(n.pid) for n in TestnetInfo.read(directory).nodes)
