"""Where a system contract keeps a value: storage slots derived from the compiler's layout.

Each build artifact carries solc's `storageLayout` (the slot, byte offset and type of every
state variable and struct member; `contracts/compiler.py`). A light client proves values with
`eth_getProof`, so it must know the slot, not call a getter: `locate("_cities", city, "status")`
follows Solidity's rules (docs.soliditylang.org, "Layout of State Variables in Storage"): a
mapping's value for key k lives at keccak256(pad32(k) . slot), a dynamic array's element i at
keccak256(slot) + i * (slots per element), a struct member at the struct's slot plus the
member's. Values smaller than a word are packed from the low-order end, at the member's offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_utils import keccak

from cityledger.contracts.artifacts import load_artifact
from cityledger.sdk.errors import LedgerError

WORD = 32


class LayoutError(LedgerError, LookupError):
    """A path that the contract's storage layout does not have."""


@dataclass(frozen=True)
class Location:
    """`size` bytes at byte `offset` (from the low-order end) of storage word `slot`."""

    slot: int
    offset: int
    size: int

    def read(self, word: int) -> int:
        """This value out of the whole 32-byte `word` stored at `slot`."""
        return (word >> (8 * self.offset)) & ((1 << (8 * self.size)) - 1)


def _key_bytes(key: bytes | int) -> bytes:
    """A value-type mapping key as Solidity hashes it: left-padded to 32 bytes."""
    if isinstance(key, int):
        return key.to_bytes(WORD, "big")
    if len(key) > WORD:
        raise LayoutError(f"a mapping key of {len(key)} bytes is not a value type")
    return key.rjust(WORD, b"\0")


class StorageLayout:
    """The storage layout of one system contract, from its committed artifact."""

    def __init__(self, contract: str) -> None:
        layout = load_artifact(contract).storage_layout
        if not layout:
            raise LayoutError(f"the {contract} artifact has no storage layout; rebuild it")
        self.contract = contract
        self._types: dict[str, dict[str, Any]] = layout["types"]
        self._variables = {entry["label"]: entry for entry in layout["storage"]}

    def locate(self, variable: str, *path: bytes | int | str) -> Location:
        """The location of `variable`, then of each step of `path` in turn: a key (bytes or int)
        into a mapping, an index (int) into a dynamic array, a member name (str) of a struct.
        A dynamic array itself locates its length."""
        entry = self._variables.get(variable)
        if entry is None:
            raise LayoutError(f"{self.contract} has no state variable {variable}")
        slot, offset, kind = int(entry["slot"]), int(entry["offset"]), str(entry["type"])
        for step in path:
            info = self._types[kind]
            encoding = info["encoding"]
            if encoding == "mapping" and not isinstance(step, str):
                slot = int.from_bytes(keccak(_key_bytes(step) + slot.to_bytes(WORD, "big")))
                offset, kind = 0, str(info["value"])
            elif encoding == "dynamic_array" and isinstance(step, int):
                element = str(info["base"])
                size = int(self._types[element]["numberOfBytes"])
                if size < WORD:
                    raise LayoutError(f"{self.contract}: packed array elements are not supported")
                start = int.from_bytes(keccak(slot.to_bytes(WORD, "big")))
                slot, offset, kind = start + step * (size // WORD), 0, element
            elif "members" in info and isinstance(step, str):
                member = next((m for m in info["members"] if m["label"] == step), None)
                if member is None:
                    raise LayoutError(f"{self.contract}: {info['label']} has no member {step}")
                slot += int(member["slot"])
                offset, kind = int(member["offset"]), str(member["type"])
            else:
                raise LayoutError(
                    f"{self.contract}: cannot step into {info['label']} with {step!r}"
                )
        size = int(self._types[kind]["numberOfBytes"])
        return Location(slot % 2**256, offset, min(size, WORD))


@cache
def layout(contract: str) -> StorageLayout:
    return StorageLayout(contract)
