"""`cityledger audit verify` against our own node, which serves finality certificates: a trust
root computed from the node's genesis file, then the trace proven from it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import CITYLEDGER
from devnode_helpers import DevNode, dev_node

from cityledger.sdk import Ledger, Signer
from cityledger.sdk.models import Role


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevNode, Path]]:
    directory = tmp_path_factory.mktemp("devnode")
    with dev_node(directory) as started:
        yield started, directory / "data"


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
    env["CITYLEDGER_HOME"] = str(home)
    return subprocess.run(
        [str(CITYLEDGER), "--json", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_audit_verify_proves_a_trace_from_the_genesis_file(
    node: tuple[DevNode, Path], tmp_path: Path
) -> None:
    dev, data_dir = node
    admin = Ledger.connect(dev.url, dev.admin, consortium=dev.consortium)
    agency = Signer.generate()
    admin.consortium.register_agency(agency.address, "Dev Big Data Center", Role.GRANTOR)
    owner = Ledger.connect(dev.url, agency, consortium=dev.consortium)
    owner.datasets.register("dev/verified", schema="a", field_count=1)
    trust = tmp_path / "trust.json"
    made = cli(
        "audit",
        "trust-root",
        "--genesis",
        str(data_dir / "genesis.json"),
        "--out",
        str(trust),
        home=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    verify = ("audit", "verify", "--dataset", "dev/verified", "--rpc", dev.url)
    refused = cli("--consortium", dev.consortium, *verify, home=tmp_path)
    assert refused.returncode == 1 and "no trust root" in refused.stderr
    done = cli("--consortium", dev.consortium, *verify, "--trust", str(trust), home=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    [event] = result["events"]
    assert event["event"] == "DatasetRegistered" and event["args"]["owner"] == agency.address
    assert event["proof"]["sealedBy"] == result["trustRoot"]["validators"]
    [fact] = result["facts"]
    assert (fact["fact"], fact["value"]) == ("owner", agency.address)
