"""The package as a user installs it: a wheel built from this tree, installed into a fresh
virtualenv outside the checkout. First without extras (an integrator's SDK and CLI: no py-evm,
no LevelDB, no uvicorn), then with `[node]`, running a dev node and the CLI against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from node_helpers import free_port

REPO = Path(__file__).resolve().parent.parent
NODE_ONLY_MODULES = ("eth", "plyvel", "uvicorn")
pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """Nothing of the checkout or of the test run's environment may leak into the venv (a node
    started in-process by another test sets ETH_HASH_BACKEND, which the SDK alone lacks)."""
    leaks = ("PYTHON", "VIRTUAL_ENV", "ETH_HASH_BACKEND", "CITYLEDGER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(leaks)}


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    ok(run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO, cwd=out))
    (built,) = out.glob("cityledger-*.whl")
    return built


def test_every_module_of_the_tree_is_in_the_wheel(wheel: Path) -> None:
    import zipfile

    shipped = set(zipfile.ZipFile(wheel).namelist())
    tree = {
        "cityledger/" + path.relative_to(REPO).as_posix()
        for top in ("contracts", "node", "sdk", "fingerprint", "gateway", "cli", "testnet")
        for path in (REPO / top).rglob("*.py")
    }
    assert tree - shipped == set()
    assert any(name.startswith("cityledger/contracts/build/") for name in shipped)


def test_wheel_installs_as_an_sdk_then_runs_a_node(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    ok(run(sys.executable, "-m", "venv", venv, cwd=tmp_path))
    python, cityledger = venv / "bin" / "python", venv / "bin" / "cityledger"
    pip = (python, "-m", "pip", "install", "-q", "--disable-pip-version-check")

    # The SDK alone: importable, the CLI answers, and `node` says what it lacks.
    ok(run(*pip, wheel, cwd=tmp_path))
    probe = (
        "import importlib.util, json, cityledger.sdk.ledger, cityledger.sdk.finality;"
        f"print(json.dumps([m for m in {NODE_ONLY_MODULES!r} if importlib.util.find_spec(m)]))"
    )
    assert json.loads(ok(run(python, "-c", probe, cwd=tmp_path))) == []
    assert "grant" in ok(run(cityledger, "--help", cwd=tmp_path))
    refused = run(cityledger, "node", "start", "--dev", cwd=tmp_path)
    assert refused.returncode == 1
    assert "pip install 'cityledger[node]'" in refused.stderr

    # With the node's extra: a dev node from the installed files, and the CLI against it.
    ok(run(*pip, f"{wheel}[node]", cwd=tmp_path))
    where = ok(
        run(python, "-c", "import cityledger.node; print(cityledger.node.__file__)", cwd=tmp_path)
    )
    assert where.startswith(str(venv)), where
    port, data_dir = free_port(), tmp_path / "dev"
    log = (tmp_path / "node.log").open("w")
    node = subprocess.Popen(
        [cityledger, "node", "start", "--dev", "--data-dir", data_dir, "--rpc-port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not (data_dir / "dev.json").exists() or not _answers(url):
            assert node.poll() is None, (tmp_path / "node.log").read_text()
            assert time.monotonic() < deadline, "the installed node did not start"
            time.sleep(0.2)
        consortium = json.loads((data_dir / "dev.json").read_text())["systemContracts"]
        cities = ok(
            run(
                cityledger,
                "--json",
                "--rpc",
                url,
                "--consortium",
                consortium["Consortium"],
                "city",
                "list",
                cwd=tmp_path,
            )
        )
        assert "Dev City" in cities
    finally:
        node.send_signal(signal.SIGINT)
        assert node.wait(timeout=30) == 0, (tmp_path / "node.log").read_text()


def _answers(url: str) -> bool:
    try:
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_blockNumber",
            "params": [],
        }
        return "result" in requests.post(url, json=body, timeout=2).json()
    except requests.ConnectionError:
        return False
