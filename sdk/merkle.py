"""RFC 9162 Merkle trees (the hashing of Certificate Transparency v2), exactly as §2.1 specifies.

An agency's off-chain access log is such a tree; AccessLog anchors its heads on chain. The
functions here build roots and proofs for an auditor or a log server, and check them. Sizes and
indices are plain ints; hashes are 32-byte SHA-256 digests. The verifiers never raise on bad
input: a proof that does not fit is simply not valid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior node over two subtrees: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """MTH({}) = SHA-256() — the hash of an empty string."""
    return hashlib.sha256(b"").digest()


def _split_point(size: int) -> int:
    """The largest power of two strictly less than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (at least one)."""
    if len(leaves) == 1:
        return leaves[0]
    k = _split_point(len(leaves))
    return node_hash(_subtree_root(leaves[:k]), _subtree_root(leaves[k:]))


def root_hash(entries: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of entries (RFC 9162 §2.1.1)."""
    if not entries:
        return empty_root()
    return _subtree_root([leaf_hash(entry) for entry in entries])


def _inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1, over hashed leaves."""
    if len(leaves) == 1:
        return []
    k = _split_point(len(leaves))
    if index < k:
        return [*_inclusion_path(index, leaves[:k]), _subtree_root(leaves[k:])]
    return [*_inclusion_path(index - k, leaves[k:]), _subtree_root(leaves[:k])]


def inclusion_proof(entries: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of entry `index` in the tree of all `entries`."""
    if not 0 <= index < len(entries):
        raise ValueError(f"index {index} is outside a tree of {len(entries)} entries")
    return _inclusion_path(index, [leaf_hash(entry) for entry in entries])


def _subproof(old_size: int, leaves: Sequence[bytes], old_is_complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1, over hashed leaves."""
    size = len(leaves)
    if old_size == size:
        return [] if old_is_complete else [_subtree_root(leaves)]
    k = _split_point(size)
    if old_size <= k:
        return [*_subproof(old_size, leaves[:k], old_is_complete), _subtree_root(leaves[k:])]
    return [*_subproof(old_size - k, leaves[k:], False), _subtree_root(leaves[:k])]


def consistency_proof(entries: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first `old_size` entries is a prefix of this one.

    Defined for 0 < old_size <= len(entries); equal sizes give the empty proof.
    """
    if not 0 < old_size <= len(entries):
        raise ValueError(f"old size {old_size} must be in 1..{len(entries)}")
    return _subproof(old_size, [leaf_hash(entry) for entry in entries], True)


def _well_formed(proof: Sequence[bytes]) -> bool:
    return all(len(node) == HASH_SIZE for node in proof)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """The audit-path check of RFC 9162 §2.1.3.2."""
    if not 0 <= index < tree_size or not _well_formed([leaf_hash, *proof]):
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """The consistency check of RFC 9162 §2.1.4.2.

    A proof from the empty tree proves nothing and is refused; equal sizes need an empty proof
    and equal roots.
    """
    if not 0 < old_size <= new_size or not _well_formed(proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
