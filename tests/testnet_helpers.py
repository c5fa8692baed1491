"""A real local network for a test module: `cityledger testnet up` as a newcomer runs it (4
validator processes), and `testnet down` afterwards, leaving no node running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityledger.testnet.network import MANIFEST, TestnetInfo, is_running, stop

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
            info = TestnetInfo.read(directory)
            left_running = [n.city for n in info.nodes if is_running(n.pid)]
            stop(info)  # no processes left behind, even when `testnet down` itself failed
            assert not left_running, f"`testnet down` left {left_running} running"
