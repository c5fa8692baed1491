"""The SDK's trie-proof checker (cityledger.sdk.proofs), written from the Yellow Paper, against
the `trie` package's tries and proofs (the code py-evm itself keeps state with): random tries,
keys present and absent, and proofs tampered with."""

from __future__ import annotations

import pytest
import rlp
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from cityledger.sdk.proofs import EMPTY_TRIE_ROOT, ProofError, verify

keys = st.binary(min_size=1, max_size=8)
values = st.binary(min_size=1, max_size=70)


def build(items: dict[bytes, bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    return trie


def proof_of(trie: HexaryTrie, key: bytes) -> list[bytes]:
    return [rlp.encode(node) for node in trie.get_proof(key)]  # type: ignore[no-untyped-call]


@settings(max_examples=300, deadline=None)
@given(items=st.dictionaries(keys, values, max_size=40), probe=keys)
def test_every_key_proves_its_value_and_every_absent_key_its_absence(
    items: dict[bytes, bytes], probe: bytes
) -> None:
    trie = build(items)
    for key, value in items.items():
        assert verify(trie.root_hash, key, proof_of(trie, key)) == value
    assert verify(trie.root_hash, probe, proof_of(trie, probe)) == items.get(probe)


@settings(max_examples=300, deadline=None)
@given(
    items=st.dictionaries(keys, values, min_size=2, max_size=40),
    data=st.data(),
)
def test_a_tampered_proof_is_refused(items: dict[bytes, bytes], data: st.DataObject) -> None:
    trie = build(items)
    key = data.draw(st.sampled_from(sorted(items)))
    proof = proof_of(trie, key)
    # The root is referenced by its hash; other nodes under 32 bytes are inline copies.
    hashed = [i for i, node in enumerate(proof) if i == 0 or len(node) >= 32]
    index = data.draw(st.sampled_from(hashed))
    position = data.draw(st.integers(0, len(proof[index]) - 1))
    node = bytearray(proof[index])
    node[position] ^= data.draw(st.integers(1, 255))
    tampered = [*proof[:index], bytes(node), *proof[index + 1 :]]
    with pytest.raises(ProofError):
        verify(trie.root_hash, key, tampered)
    # Nodes left out: the walk stops where the proof ends.
    with pytest.raises(ProofError):
        verify(trie.root_hash, key, proof[:index] + proof[index + 1 :])


def test_a_proof_for_another_root_is_refused() -> None:
    trie = build({b"a": b"1", b"b": b"2" * 40})
    with pytest.raises(ProofError, match="lacks the trie node"):
        verify(keccak(b"another root"), b"a", proof_of(trie, b"a"))
    assert verify(EMPTY_TRIE_ROOT, b"a", []) is None
