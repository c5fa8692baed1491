"""Loads the committed build artifacts. Runtime code (node, SDK, CLI) never needs a compiler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from eth_typing import ABI

BUILD_DIR = Path(__file__).resolve().parent / "build"

# The five system contracts, in deployment order (each later one reads the earlier ones).
SYSTEM_CONTRACTS: tuple[str, ...] = (
    "Consortium",
    "DataGrants",
    "AccessLog",
    "LeakRegistry",
    "ResourceAllocation",
)


class ArtifactError(Exception):
    """A build artifact is missing or unreadable."""


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: ABI
    bytecode: bytes
    deployed_bytecode: bytes
    compiler: str
    evm_version: str
    source_hash: str
    # solc's storageLayout without AST ids (contracts/compiler.py): where state variables live.
    storage_layout: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContractArtifact:
        return cls(
            name=str(data["contractName"]),
            abi=cast(ABI, data["abi"]),
            bytecode=bytes.fromhex(str(data["bytecode"]).removeprefix("0x")),
            deployed_bytecode=bytes.fromhex(str(data["deployedBytecode"]).removeprefix("0x")),
            compiler=str(data["compiler"]),
            evm_version=str(data["evmVersion"]),
            source_hash=str(data["sourceHash"]),
            storage_layout=dict(data.get("storageLayout") or {}),
        )


@cache
def load_artifact(name: str) -> ContractArtifact:
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(
            f"no build artifact for contract {name!r} at {path}; run `cityledger contracts build`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"build artifact {path} is not valid JSON: {exc}") from None
    return ContractArtifact.from_json(data)
