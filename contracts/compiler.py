"""The compile step: every .sol under contracts/ through py-solc-x and solc-js, offline.

py-solc-x's own `install_solc` downloads compilers and cannot work offline, so it drives the npm
package `solc` (pinned in package.json) through `solc_wrapper.js`. Only someone who edits a .sol
file needs this module; everyone else uses the committed artifacts in contracts/build/.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityledger.contracts.artifacts import BUILD_DIR, SYSTEM_CONTRACTS

CONTRACTS_DIR = Path(__file__).resolve().parent
WRAPPER = CONTRACTS_DIR / "solc_wrapper.js"
# Must be a fork py-evm implements; the node's genesis names the same fork.
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']', re.MULTILINE)

# Keys an artifact is compared on; the rest (compiler, hashes) follows from these and the sources.
COMPARED_KEYS = ("abi", "bytecode", "deployedBytecode", "storageLayout")
# solc names types by AST id (`t_struct(City)639_storage`); ids shift whenever any source
# changes, so artifacts keep the names without them and a layout changes only with its contract.
_AST_ID = re.compile(r"(t_(?:struct|enum|contract|userDefinedValueType)\([^)]*\))\d+")


class CompileError(Exception):
    """The compiler is missing or the sources do not compile."""


@dataclass(frozen=True)
class ArtifactMismatch:
    contract: str
    reason: str

    def __str__(self) -> str:
        return f"{self.contract}: {self.reason}"


def _sources() -> dict[str, str]:
    return {
        path.relative_to(CONTRACTS_DIR).as_posix(): path.read_text()
        for path in sorted(CONTRACTS_DIR.rglob("*.sol"))
        if "node_modules" not in path.parts
    }


def _closure(entry: str, sources: dict[str, str]) -> list[str]:
    """The file and everything it imports, transitively, as source keys."""
    seen: list[str] = []
    stack = [entry]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.append(key)
        base = Path(key).parent
        for target in _IMPORT.findall(sources[key]):
            resolved = _normalize(
                f"{base.as_posix()}/{target}" if target.startswith(".") else target
            )
            if resolved in sources:
                stack.append(resolved)
    return sorted(seen)


def _normalize(path: str) -> str:
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def source_hash(entry: str, sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in _closure(entry, sources):
        digest.update(key.encode() + b"\0" + sources[key].encode() + b"\0")
    return "0x" + digest.hexdigest()


def _standard_input(sources: dict[str, str]) -> dict[str, Any]:
    return {
        "language": "Solidity",
        "sources": {key: {"content": text} for key, text in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            # No metadata hash in the bytecode, so artifacts depend on the sources alone.
            "metadata": {"bytecodeHash": "none", "appendCBOR": False},
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "storageLayout",
                    ]
                }
            },
        },
    }


def _check_toolchain() -> None:
    if shutil.which("node") is None:
        raise CompileError("node (Node.js) is not on PATH; it runs the pinned solc-js compiler")
    if not (CONTRACTS_DIR.parent / "node_modules" / "solc").is_dir():
        raise CompileError("npm package solc is not installed; run scripts/bootstrap (or npm ci)")


def compile_all() -> dict[str, dict[str, Any]]:
    """Compiles every source and returns one artifact dict per deployable system contract."""
    import solcx
    from solcx.exceptions import SolcError
    from solcx.wrapper import get_solc_version

    _check_toolchain()
    sources = _sources()
    try:
        output = solcx.compile_standard(
            _standard_input(sources),
            solc_binary=WRAPPER,
            base_path=str(CONTRACTS_DIR),
            allow_empty=True,
        )
    except SolcError as exc:
        raise CompileError(str(exc)) from None
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError(
            "\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors)
        )
    version = str(get_solc_version(WRAPPER, with_commit_hash=True))
    artifacts: dict[str, dict[str, Any]] = {}
    for key, contracts in output["contracts"].items():
        for name, out in contracts.items():
            if name not in SYSTEM_CONTRACTS:
                continue  # interfaces and libraries are compiled into the system contracts
            artifacts[name] = {
                "contractName": name,
                "sourcePath": f"contracts/{key}",
                "abi": out["abi"],
                "bytecode": "0x" + out["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
                "storageLayout": storage_layout(out["storageLayout"]),
                "compiler": f"solc-js {version}",
                "evmVersion": EVM_VERSION,
                "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
                "sourceHash": source_hash(key, sources),
            }
    return artifacts


def storage_layout(raw: dict[str, Any]) -> dict[str, Any]:
    """solc's `storageLayout` (where each state variable and struct member lives: slot, byte
    offset, type), without AST ids, so that a light client can derive the slots it proves."""

    def entry(item: dict[str, Any]) -> dict[str, Any]:
        return {
            "label": item["label"],
            "slot": item["slot"],
            "offset": item["offset"],
            "type": _AST_ID.sub(r"\1", item["type"]),
        }

    types = {}
    for name, kind in (raw.get("types") or {}).items():
        cleaned = {k: _AST_ID.sub(r"\1", v) if isinstance(v, str) else v for k, v in kind.items()}
        if "members" in kind:
            cleaned["members"] = [entry(m) for m in kind["members"]]
        types[_AST_ID.sub(r"\1", name)] = cleaned
    return {"storage": [entry(item) for item in raw["storage"]], "types": types}


def write_artifacts(
    artifacts: dict[str, dict[str, Any]], build_dir: Path = BUILD_DIR
) -> list[Path]:
    build_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(artifacts.items()):
        path = build_dir / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def compare_with_committed(
    fresh: dict[str, dict[str, Any]], build_dir: Path = BUILD_DIR
) -> list[ArtifactMismatch]:
    """Every way the committed artifacts differ from a fresh compile, by contract."""
    problems = [
        ArtifactMismatch(name, "no source defines this contract")
        for name in SYSTEM_CONTRACTS
        if name not in fresh
    ]
    for name, artifact in sorted(fresh.items()):
        path = build_dir / f"{name}.json"
        if not path.exists():
            problems.append(ArtifactMismatch(name, f"artifact {path.name} is missing"))
            continue
        committed = json.loads(path.read_text())
        for key in (*COMPARED_KEYS, "sourceHash"):
            if committed.get(key) != artifact[key]:
                problems.append(
                    ArtifactMismatch(
                        name, f"{key} differs from its source; run `cityledger contracts build`"
                    )
                )
                break
    return problems
