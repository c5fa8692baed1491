"""The data gateways of a local network: one per city that serves datasets, each a
`cityledger gateway serve` process in the background, on HTTPS with the network's own CA.

`configure` writes a city's gateway config once its datasets exist (the demo does it); `start`
launches every configured gateway, `wait_until_serving` waits until each answers, `stop` ends
them. Their pids are kept in DIR/testnet.json with the nodes'.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from cityledger.gateway.config import DatasetSource, load, render
from cityledger.testnet.network import GatewayInfo, TestnetError, TestnetInfo, is_running

PASSPHRASE_ENV = "CITYLEDGER_PASSPHRASE"


def configure(
    info: TestnetInfo,
    gateway: GatewayInfo,
    datasets: Sequence[DatasetSource],
    anchor_interval: float | None = None,
) -> None:
    """Writes the city's gateway config: its key, TLS certificate, its city's node, datasets."""
    node = next(n for n in info.nodes if n.city == gateway.city)
    config = Path(gateway.config)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        render(
            url=gateway.url,
            listen=f"127.0.0.1:{gateway.port}",
            keystore=Path(gateway.keystore),
            passphrase_env=PASSPHRASE_ENV,
            state_dir=config.parent / "state",
            tls=(Path(gateway.tls_cert), Path(gateway.tls_key)),
            rpc=node.rpc_url,
            consortium=info.system_contracts["Consortium"],
            datasets=datasets,
            anchor_interval=anchor_interval,
        )
    )


def configured(info: TestnetInfo) -> list[GatewayInfo]:
    return [g for g in info.gateways if Path(g.config).exists()]


def served(info: TestnetInfo) -> list[DatasetSource]:
    """Every dataset a configured gateway serves: its data, schema and secret files."""
    return [d for g in configured(info) for d in load(Path(g.config)).datasets]


def start(info: TestnetInfo, passphrase: str) -> None:
    """Starts every configured gateway that is not running (each in its own session)."""
    for gateway in configured(info):
        if is_running(gateway.pid):
            continue
        with open(gateway.log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cityledger.gateway", "serve", "--config", gateway.config],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, PASSPHRASE_ENV: passphrase},
            )
        gateway.pid = process.pid
        info.write()


def serving(info: TestnetInfo, gateway: GatewayInfo) -> bool:
    try:
        answer = requests.get(f"{gateway.url}/v1/info", verify=str(info.tls_ca), timeout=2)
    except requests.RequestException:
        return False
    return answer.status_code == 200


def wait_until_serving(info: TestnetInfo, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    waiting = configured(info)
    while waiting:
        for gateway in waiting:
            if not is_running(gateway.pid):
                said = Path(gateway.log_file).read_text(errors="replace").strip().splitlines()
                raise TestnetError(
                    f"the {gateway.city} gateway exited ({said[-1] if said else 'no output'}); "
                    f"see {gateway.log_file}"
                )
        waiting = [g for g in waiting if not serving(info, g)]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(g.city for g in waiting)
            raise TestnetError(f"the gateways of {names} did not answer within {timeout:.0f} s")
        if waiting:
            time.sleep(0.2)


def stop(info: TestnetInfo, timeout: float = 15.0) -> None:
    running = [g for g in info.gateways if is_running(g.pid)]
    for gateway in running:
        assert gateway.pid is not None
        os.kill(gateway.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for gateway in running:
        while is_running(gateway.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_running(gateway.pid):
            assert gateway.pid is not None
            os.kill(gateway.pid, signal.SIGKILL)
            while is_running(gateway.pid):
                time.sleep(0.05)
    for gateway in info.gateways:
        gateway.pid = None
    info.write()
