"""The RFC 6962 / RFC 9162 Merkle proof vectors of transparency-dev/merkle (testdata/, Apache
License 2.0, copied unchanged into tests/testdata/rfc6962 with its LICENSE)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

VECTORS = Path(__file__).resolve().parent / "testdata" / "rfc6962"


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _label(path: Path) -> str:
    return path.relative_to(VECTORS).with_suffix("").as_posix()


@dataclass(frozen=True)
class ConsistencyVector:
    name: str
    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    want_err: bool


@dataclass(frozen=True)
class InclusionVector:
    name: str
    leaf_index: int
    tree_size: int
    root: bytes
    leaf_hash: bytes
    proof: list[bytes]
    want_err: bool


def consistency_vectors() -> list[ConsistencyVector]:
    vectors = []
    for path in sorted((VECTORS / "consistency").rglob("*.json")):
        data = json.loads(path.read_text())
        vectors.append(
            ConsistencyVector(
                name=_label(path),
                size1=int(data["size1"]),
                size2=int(data["size2"]),
                root1=_b64(data["root1"]),
                root2=_b64(data["root2"]),
                proof=[_b64(node) for node in data["proof"] or []],
                want_err=bool(data["wantErr"]),
            )
        )
    return vectors


def inclusion_vectors() -> list[InclusionVector]:
    vectors = []
    for path in sorted((VECTORS / "inclusion").rglob("*.json")):
        data = json.loads(path.read_text())
        vectors.append(
            InclusionVector(
                name=_label(path),
                leaf_index=int(data["leafIdx"]),
                tree_size=int(data["treeSize"]),
                root=_b64(data["root"]),
                leaf_hash=_b64(data["leafHash"]),
                proof=[_b64(node) for node in data["proof"] or []],
                want_err=bool(data["wantErr"]),
            )
        )
    return vectors
