"""The committed build artifacts are exactly what the sources compile to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cityledger.contracts.artifacts import BUILD_DIR, SYSTEM_CONTRACTS, load_artifact
from cityledger.contracts.compiler import compare_with_committed, compile_all


@pytest.fixture(scope="module")
def fresh() -> dict[str, dict[str, Any]]:
    return compile_all()


def test_committed_artifacts_match_sources(fresh: dict[str, dict[str, Any]]) -> None:
    problems = compare_with_committed(fresh)
    assert not problems, "stale artifacts (run `cityledger contracts build`):\n" + "\n".join(
        map(str, problems)
    )


def test_a_stale_artifact_is_named(fresh: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    shutil.copytree(BUILD_DIR, tmp_path, dirs_exist_ok=True)
    stale = json.loads((tmp_path / "DataGrants.json").read_text())
    stale["deployedBytecode"] = stale["deployedBytecode"][:-2] + "00"
    (tmp_path / "DataGrants.json").write_text(json.dumps(stale))
    (tmp_path / "AccessLog.json").unlink()
    problems = {p.contract: p.reason for p in compare_with_committed(fresh, tmp_path)}
    assert set(problems) == {"DataGrants", "AccessLog"}
    assert "deployedBytecode" in problems["DataGrants"]
    assert "missing" in problems["AccessLog"]


def test_artifacts_carry_what_integrators_need() -> None:
    for name in SYSTEM_CONTRACTS:
        artifact = load_artifact(name)
        assert artifact.compiler.startswith("solc-js 0.8.")
        assert artifact.evm_version == "cancun"
        assert artifact.source_hash.startswith("0x") and len(artifact.source_hash) == 66
        assert artifact.deployed_bytecode and artifact.bytecode and artifact.abi
        # EIP-170: runtime code must fit in 24,576 bytes on any Ethereum-compatible node.
        assert len(artifact.deployed_bytecode) <= 24_576, (
            f"{name} exceeds the EIP-170 code size limit"
        )
