"""`cityledger audit verify` against our own node, which serves finality certificates."""

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
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    with dev_node(tmp_path_factory.mktemp("devnode")) as started:
        yield started


def test_audit_verify_checks_every_block_of_a_trace(node: DevNode, tmp_path: Path) -> None:
    admin = Ledger.connect(node.url, node.admin, consortium=node.consortium)
    agency = Signer.generate()
    admin.consortium.register_agency(agency.address, "Dev Big Data Center", Role.GRANTOR)
    owner = Ledger.connect(node.url, agency, consortium=node.consortium)
    owner.datasets.register("dev/verified", schema="a", field_count=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYLEDGER_")}
    env["CITYLEDGER_HOME"] = str(tmp_path)
    done = subprocess.run(
        [
            str(CITYLEDGER),
            "--json",
            "--rpc",
            node.url,
            "--consortium",
            node.consortium,
            "audit",
            "verify",
            "--dataset",
            "dev/verified",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["events"] == 1 and len(result["blocks"]) == 1
    assert result["blocks"][0]["quorum"] == 1
