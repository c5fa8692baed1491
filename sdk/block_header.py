"""A block header as a node serves it (`eth_getBlockByNumber`), hashed here rather than taken
from the node's `hash` field: the header is what its fields hash to, or it is not the header.

The hash is keccak256 of the RLP list of the header's fields in the Yellow Paper's order, with
the fields each fork appended (London's base fee, Shanghai's withdrawals root, Cancun's blob gas
and parent beacon root, Prague's requests hash) when the block carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from eth_utils import keccak

from cityledger.sdk.errors import LedgerError

MAX_EXTRA_DATA = 1_024


class HeaderError(LedgerError, ValueError):
    """A block that is not a well-formed header; the message says which field."""


def _data(block: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    value = block.get(name)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise HeaderError(f"{name} is not 0x hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise HeaderError(f"{name} is not 0x hex") from None
    if size is not None and len(raw) != size:
        raise HeaderError(f"{name} is {len(raw)} bytes, not {size}")
    if len(raw) > MAX_EXTRA_DATA:
        raise HeaderError(f"{name} is longer than {MAX_EXTRA_DATA} bytes")
    return raw


def _quantity(block: Mapping[str, Any], name: str) -> int:
    value = block.get(name)
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise HeaderError(f"{name} is not a quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise HeaderError(f"{name} is not a quantity") from None


# Fields each fork added, in header order: (JSON name, kind, size).
_FORK_FIELDS: tuple[tuple[tuple[str, str, int | None], ...], ...] = (
    (("baseFeePerGas", "quantity", None),),
    (("withdrawalsRoot", "data", 32),),
    (("blobGasUsed", "quantity", None), ("excessBlobGas", "quantity", None)),
    (("parentBeaconBlockRoot", "data", 32),),
    (("requestsHash", "data", 32),),
)


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: bytes  # keccak256 of the encoded fields, computed here
    parent_hash: bytes
    state_root: bytes
    transactions_root: bytes
    receipts_root: bytes
    timestamp: int

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> BlockHeader:
        parent_hash = _data(block, "parentHash", 32)
        state_root = _data(block, "stateRoot", 32)
        transactions_root = _data(block, "transactionsRoot", 32)
        receipts_root = _data(block, "receiptsRoot", 32)
        number = _quantity(block, "number")
        timestamp = _quantity(block, "timestamp")
        fields: list[bytes | int] = [
            parent_hash,
            _data(block, "sha3Uncles", 32),
            _data(block, "miner", 20),
            state_root,
            transactions_root,
            receipts_root,
            _data(block, "logsBloom", 256),
            _quantity(block, "difficulty"),
            number,
            _quantity(block, "gasLimit"),
            _quantity(block, "gasUsed"),
            timestamp,
            _data(block, "extraData"),
            _data(block, "mixHash", 32),
            _data(block, "nonce", 8),
        ]
        for fork in _FORK_FIELDS:
            if fork[0][0] not in block:
                break  # a later fork's fields never appear without an earlier one's
            for name, kind, size in fork:
                fields.append(
                    _quantity(block, name) if kind == "quantity" else _data(block, name, size)
                )
        return cls(
            number=number,
            hash=keccak(rlp.encode(fields)),
            parent_hash=parent_hash,
            state_root=state_root,
            transactions_root=transactions_root,
            receipts_root=receipts_root,
            timestamp=timestamp,
        )
