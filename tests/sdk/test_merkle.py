"""cityledger.sdk.merkle against RFC 9162 §2.1.

Vectors: every inclusion and consistency vector of transparency-dev/merkle (testdata/, Apache
License 2.0; https://github.com/transparency-dev/merkle), copied into tests/testdata/rfc6962: each
wantErr=false vector must verify and each wantErr=true vector must be rejected. Hypothesis then
checks the module against a naive transcription of the RFC's recursive definitions.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rfc6962_vectors import (
    ConsistencyVector,
    InclusionVector,
    consistency_vectors,
    inclusion_vectors,
)

from cityledger.sdk import merkle

CONSISTENCY = consistency_vectors()
INCLUSION = inclusion_vectors()


def test_every_vector_is_loaded() -> None:
    assert len(CONSISTENCY) == 98
    assert len(INCLUSION) == 98
    assert sum(not v.want_err for v in CONSISTENCY) == 6
    assert sum(not v.want_err for v in INCLUSION) == 6


@pytest.mark.parametrize("vector", CONSISTENCY, ids=lambda v: v.name)
def test_consistency_vector(vector: ConsistencyVector) -> None:
    verdict = merkle.verify_consistency(
        vector.size1, vector.size2, vector.proof, vector.root1, vector.root2
    )
    assert verdict is not vector.want_err


@pytest.mark.parametrize("vector", INCLUSION, ids=lambda v: v.name)
def test_inclusion_vector(vector: InclusionVector) -> None:
    verdict = merkle.verify_inclusion(
        vector.leaf_hash, vector.leaf_index, vector.tree_size, vector.proof, vector.root
    )
    assert verdict is not vector.want_err


# ------------------------------------------------------------------ the RFC's definitions, naively


def naive_mth(entries: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 §2.1.1, transcribed with no shared helpers."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(entries[:k]) + naive_mth(entries[k:])).digest()


def naive_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of §2.1.3.1."""
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, entries[:k]), naive_mth(entries[k:])]
    return [*naive_path(m - k, entries[k:]), naive_mth(entries[:k])]


def naive_subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) of §2.1.4.1."""
    n = len(entries)
    if m == n:
        return [] if b else [naive_mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, entries[:k], b), naive_mth(entries[k:])]
    return [*naive_subproof(m - k, entries[k:], False), naive_mth(entries[:k])]


entry_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)
# Distinct entries, so that a proof for one index cannot happen to fit another.
distinct_entry_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)


@given(st.lists(st.binary(max_size=12), max_size=70))
def test_root_hash_is_the_rfc_mth(entries: list[bytes]) -> None:
    assert merkle.root_hash(entries) == naive_mth(entries)


@given(distinct_entry_lists, st.data())
def test_inclusion_proofs_match_the_rfc_and_verify(
    entries: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(entries) - 1))
    proof = merkle.inclusion_proof(entries, index)
    assert proof == naive_path(index, entries)
    root = naive_mth(entries)
    leaf = merkle.leaf_hash(entries[index])
    assert merkle.verify_inclusion(leaf, index, len(entries), proof, root)
    altered = merkle.leaf_hash(entries[index] + b"!")
    assert not merkle.verify_inclusion(altered, index, len(entries), proof, root)
    if len(entries) > 1:
        assert not merkle.verify_inclusion(
            leaf, (index + 1) % len(entries), len(entries), proof, root
        )


@given(entry_lists, st.data())
def test_consistency_proofs_match_the_rfc_and_verify(
    entries: list[bytes], data: st.DataObject
) -> None:
    old_size = data.draw(st.integers(1, len(entries)))
    proof = merkle.consistency_proof(entries, old_size)
    assert proof == naive_subproof(old_size, entries, True)
    old_root, new_root = naive_mth(entries[:old_size]), naive_mth(entries)
    assert merkle.verify_consistency(old_size, len(entries), proof, old_root, new_root)


@given(entry_lists, st.data())
def test_any_altered_consistency_proof_is_rejected(
    entries: list[bytes], data: st.DataObject
) -> None:
    """Flipping one bit of one node, dropping a node, adding one, or rewriting an old entry
    (a fork of the log) is always caught."""
    old_size = data.draw(st.integers(1, len(entries)))
    proof = merkle.consistency_proof(entries, old_size)
    old_root, new_root = naive_mth(entries[:old_size]), naive_mth(entries)
    n = len(entries)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(proof[i])
        flipped[bit // 8] ^= 1 << (bit % 8)
        altered = [*proof[:i], bytes(flipped), *proof[i + 1 :]]
        assert not merkle.verify_consistency(old_size, n, altered, old_root, new_root)
        assert not merkle.verify_consistency(old_size, n, proof[:-1], old_root, new_root)
    assert not merkle.verify_consistency(old_size, n, [*proof, new_root], old_root, new_root)
    forked = list(entries)
    forked[data.draw(st.integers(0, old_size - 1))] += b"!"
    assert not merkle.verify_consistency(old_size, n, proof, naive_mth(forked[:old_size]), new_root)


def test_empty_tree_root_and_refusals() -> None:
    assert merkle.root_hash([]) == hashlib.sha256(b"").digest() == merkle.empty_root()
    with pytest.raises(ValueError):
        merkle.inclusion_proof([b"a"], 1)
    with pytest.raises(ValueError):
        merkle.consistency_proof([b"a", b"b"], 0)
    with pytest.raises(ValueError):
        merkle.consistency_proof([b"a", b"b"], 3)


def test_rfc_example_tree_of_seven() -> None:
    """The seven-leaf tree drawn in RFC 9162 §2.1.5: the proofs listed there."""
    d = [bytes([i]) for i in range(7)]
    h = [merkle.leaf_hash(x) for x in d]
    g, hh = merkle.node_hash(h[0], h[1]), merkle.node_hash(h[2], h[3])
    i, j = merkle.node_hash(h[4], h[5]), h[6]
    k, l_ = merkle.node_hash(g, hh), merkle.node_hash(i, j)
    assert merkle.inclusion_proof(d, 0) == [h[1], hh, l_]
    assert merkle.inclusion_proof(d, 3) == [h[2], g, l_]
    assert merkle.inclusion_proof(d, 4) == [h[5], j, k]
    assert merkle.inclusion_proof(d, 6) == [i, k]
    assert merkle.consistency_proof(d, 3) == [h[2], h[3], g, l_]
    assert merkle.consistency_proof(d, 4) == [l_]
    assert merkle.consistency_proof(d, 6) == [i, j, k]
