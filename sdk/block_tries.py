"""A block's receipts and transactions tries, rebuilt from what a node serves, so that their roots
can be compared with a certified header's `receiptsRoot` and `transactionsRoot`.

Both are "ordered" Merkle-Patricia tries (Yellow Paper, section 4.3 and appendix D): key
rlp(index), value the index-th item's encoding. A receipt is encoded as EIP-2718 says: for a typed
transaction its type byte, then rlp([status, cumulativeGasUsed, logsBloom, logs]); a legacy
receipt is the RLP list alone; a log is rlp([address, topics, data]). A transaction's item is its
signed bytes as `eth_getRawTransactionByBlockNumberAndIndex` serves them (type byte and payload),
whose keccak256 is the transaction hash. Written from the spec: no py-evm, no `trie` package (the
tests compare both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TypeAlias

import rlp
from eth_utils import keccak

from cityledger.sdk.errors import LedgerError

EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
MAX_TOPICS = 4

_Node: TypeAlias = list["bytes | _Node"]
_Entry: TypeAlias = tuple[str, bytes]  # (key as hex nibbles, value)


class ReceiptError(LedgerError, ValueError):
    """A receipt that is not well formed; the message says which field."""


def ordered_trie_root(items: Sequence[bytes]) -> bytes:
    """Root hash of the trie mapping rlp(index) to items[index]."""
    entries = sorted((rlp.encode(index).hex(), item) for index, item in enumerate(items))
    if not entries:
        return EMPTY_TRIE_ROOT
    return keccak(rlp.encode(_node(entries, 0)))  # the root is hashed whatever its size


def _node(entries: list[_Entry], depth: int) -> _Node:
    """The node holding `entries`, whose keys share their first `depth` nibbles."""
    first, value = entries[0]
    if len(entries) == 1:
        return [_hex_prefix(first[depth:], leaf=True), value]
    last = entries[-1][0]
    shared = depth  # keys are sorted: what the first and last share, all share
    while first[shared] == last[shared]:
        shared += 1
    branch: _Node = [b""] * 17  # slot 16 stays empty: rlp keys are prefix-free
    for nibble, group in groupby(entries, key=lambda entry: entry[0][shared]):
        branch[int(nibble, 16)] = _reference(_node(list(group), shared + 1))
    if shared == depth:
        return branch
    return [_hex_prefix(first[depth:shared], leaf=False), _reference(branch)]


def _reference(node: _Node) -> bytes | _Node:
    """A child as its parent holds it: inline when its encoding is under 32 bytes, else its
    hash."""
    encoded = rlp.encode(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _hex_prefix(nibbles: str, *, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        return bytes.fromhex(f"{flag + 1}{nibbles}")
    return bytes.fromhex(f"{flag}0{nibbles}")


@dataclass(frozen=True)
class Log:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class Receipt:
    tx_type: int
    status: int
    cumulative_gas_used: int
    logs_bloom: bytes
    logs: tuple[Log, ...]

    def encode(self) -> bytes:
        payload: bytes = rlp.encode(
            [
                b"\x01" if self.status else b"",
                self.cumulative_gas_used,
                self.logs_bloom,
                [[log.address, list(log.topics), log.data] for log in self.logs],
            ]
        )
        return payload if self.tx_type == 0 else bytes([self.tx_type]) + payload

    @classmethod
    def from_json(cls, receipt: object) -> Receipt:
        if not isinstance(receipt, dict):
            raise ReceiptError("a receipt is not an object")
        logs = receipt.get("logs")
        if not isinstance(logs, list):
            raise ReceiptError("logs is not a list")
        tx_type = _quantity(receipt.get("type", "0x0"), "type")
        status = _quantity(receipt.get("status"), "status")
        if tx_type > 0x7F or status > 1:
            raise ReceiptError("type or status out of range")
        return cls(
            tx_type=tx_type,
            status=status,
            cumulative_gas_used=_quantity(receipt.get("cumulativeGasUsed"), "cumulativeGasUsed"),
            logs_bloom=_hex(receipt.get("logsBloom"), "logsBloom", 256),
            logs=tuple(_log(entry) for entry in logs),
        )


def _log(entry: object) -> Log:
    if not isinstance(entry, dict):
        raise ReceiptError("a log is not an object")
    topics = entry.get("topics")
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise ReceiptError(f"a log's topics are not a list of at most {MAX_TOPICS}")
    return Log(
        address=_hex(entry.get("address"), "address", 20),
        topics=tuple(_hex(t, "topic", 32) for t in topics),
        data=_hex(entry.get("data"), "data"),
    )


def _hex(value: object, name: str, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ReceiptError(f"{name} is not 0x hex")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise ReceiptError(f"{name} is not 0x hex") from None
    if size is not None and len(raw) != size:
        raise ReceiptError(f"{name} is {len(raw)} bytes, not {size}")
    return raw


def _quantity(value: object, name: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise ReceiptError(f"{name} is not a quantity")
    try:
        return int(value, 16)
    except ValueError:
        raise ReceiptError(f"{name} is not a quantity") from None
