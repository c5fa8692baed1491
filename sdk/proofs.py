"""Merkle-Patricia trie proofs, checked without trusting whoever served them.

EIP-1186 (`eth_getProof`) proves an account against a block's state root and a storage slot
against the account's storage root; a block's receipts are proven by rebuilding its receipts
trie. This module walks a proof from a root hash to a key by the Yellow Paper's rules (nodes
referenced by keccak256 of their RLP encoding, or inline when shorter than 32 bytes; hex-prefix
encoded paths) and returns the value there, or None where the proof shows the key is absent.
Anything else (a node the proof lacks, a node that is not what its parent references, a
malformed node) raises `ProofError`. It needs neither py-evm nor the `trie` package; the tests
check it against that package's tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import rlp
from eth_utils import keccak

from cityledger.node.decoding import check_rlp_depth
from cityledger.sdk.errors import LedgerError

EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")
_MAX_NODE_DEPTH = 16  # inline nodes nest, each shorter than 32 bytes


class ProofError(LedgerError):
    """A proof that does not prove what it claims."""


def _nibbles(key: bytes) -> list[int]:
    return [n for byte in key for n in (byte >> 4, byte & 0x0F)]


def _decode_path(encoded: bytes) -> tuple[list[int], bool]:
    """Hex-prefix decoding (Yellow Paper, appendix C): the nibbles and whether it is a leaf."""
    if not encoded:
        raise ProofError("a trie node has an empty path")
    flag = encoded[0] >> 4
    if flag > 3:
        raise ProofError(f"a trie node's path has an unknown flag {flag}")
    nibbles = _nibbles(encoded)[1:] if flag & 1 else _nibbles(encoded)[2:]
    return nibbles, bool(flag & 2)


def _node(reference: object, nodes: dict[bytes, bytes]) -> list[object]:
    if isinstance(reference, list):
        return reference  # inline: shorter than 32 bytes, part of its parent
    if not isinstance(reference, bytes) or len(reference) != 32:
        raise ProofError("a trie node references a child that is neither a hash nor inline")
    encoded = nodes.get(reference)
    if encoded is None:
        raise ProofError(f"the proof lacks the trie node 0x{reference.hex()}")
    try:
        check_rlp_depth(encoded, _MAX_NODE_DEPTH)
        decoded = rlp.decode(encoded)
    except (ValueError, rlp.DecodingError) as exc:
        raise ProofError(f"a proof node is not a trie node: {exc}") from None
    if not isinstance(decoded, list) or len(decoded) not in (2, 17):
        raise ProofError("a proof node is not a branch, extension or leaf")
    return decoded


def verify(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The value stored under `key` in the trie whose root hash is `root`, as `proof` (RLP
    nodes, any order) shows it; None if the proof shows there is none."""
    if root == EMPTY_TRIE_ROOT:
        return None
    nodes = {keccak(node): node for node in proof}
    path = _nibbles(key)
    reference: object = root
    while True:
        node = _node(reference, nodes)
        if len(node) == 17:
            if not path:
                value = node[16]
                if not isinstance(value, bytes):
                    raise ProofError("a branch node's value is not a byte string")
                return value or None
            reference, path = node[path[0]], path[1:]
            if reference == b"":
                return None
            continue
        encoded_path, child = node
        if not isinstance(encoded_path, bytes):
            raise ProofError("a trie node's path is not a byte string")
        nibbles, leaf = _decode_path(encoded_path)
        if leaf:
            if not isinstance(child, bytes):
                raise ProofError("a leaf's value is not a byte string")
            return child if nibbles == path else None
        if path[: len(nibbles)] != nibbles:
            return None
        reference, path = child, path[len(nibbles) :]


@dataclass(frozen=True)
class ProvenAccount:
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def verify_account(state_root: bytes, address: bytes, proof: Sequence[bytes]) -> ProvenAccount:
    """The account at `address` in the state whose root is `state_root` (an absent account is
    the empty one)."""
    encoded = verify(state_root, keccak(address), proof)
    if encoded is None:
        return ProvenAccount(0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    try:
        fields = rlp.decode(encoded)
        nonce, balance, storage_root, code_hash = fields
        if len(storage_root) != 32 or len(code_hash) != 32:
            raise ValueError("roots are 32 bytes")
        return ProvenAccount(
            int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), storage_root, code_hash
        )
    except (ValueError, TypeError, rlp.DecodingError) as exc:
        raise ProofError(f"the proven account does not decode: {exc}") from None


def verify_storage(storage_root: bytes, slot: int, proof: Sequence[bytes]) -> int:
    """The value of storage `slot` under `storage_root` (0 where the proof shows none)."""
    encoded = verify(storage_root, keccak(slot.to_bytes(32, "big")), proof)
    if encoded is None:
        return 0
    try:
        value = rlp.decode(encoded)
    except rlp.DecodingError as exc:
        raise ProofError(f"the proven storage value does not decode: {exc}") from None
    if not isinstance(value, bytes) or len(value) > 32:
        raise ProofError("the proven storage value is not a 32-byte word")
    return int.from_bytes(value, "big")
