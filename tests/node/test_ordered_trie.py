"""The one-pass ordered trie builder agrees with py-evm's insert-one-by-one HexaryTrie."""

from __future__ import annotations

import pytest
import rlp
from eth.db.trie import _make_trie_root_and_nodes
from eth_typing import Hash32
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.node.execution.ordered_trie import ordered_trie_root_and_nodes

# The lru_cache'd function would hand back its cached answer; compare against a fresh build.
py_evm_root_and_nodes = _make_trie_root_and_nodes.__wrapped__

EMPTY_TRIE_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")


def py_evm(items: list[bytes]) -> tuple[Hash32, dict[Hash32, bytes]]:
    root, nodes = py_evm_root_and_nodes(tuple(items))
    return root, nodes


# Drawing the length first: plain st.lists rarely goes past a few dozen items, and the
# interesting key boundaries are at 128 and 256.
item_lists = st.integers(0, 300).flatmap(
    lambda count: st.lists(st.binary(max_size=200), min_size=count, max_size=count)
)


@settings(max_examples=200, deadline=None)
@given(item_lists)
def test_matches_py_evm_for_random_items(items: list[bytes]) -> None:
    assert ordered_trie_root_and_nodes(items) == py_evm(items)


def test_empty_trie_has_the_published_empty_root() -> None:
    assert ordered_trie_root_and_nodes([]) == (EMPTY_TRIE_ROOT, {})
    assert py_evm([]) == (EMPTY_TRIE_ROOT, {})


def test_single_item_is_one_leaf_under_key_rlp_zero() -> None:
    item = b"\x02" + bytes(range(40))
    # rlp(0) = 0x80: nibbles 8, 0, an even-length leaf path, hex-prefixed as 0x20 0x80.
    leaf = rlp.encode([b"\x20\x80", item])

    assert ordered_trie_root_and_nodes([item]) == (keccak(leaf), {keccak(leaf): leaf})


def test_short_root_is_still_stored_by_hash() -> None:
    leaf = rlp.encode([b"\x20\x80", b"x"])

    assert len(leaf) < 32
    assert ordered_trie_root_and_nodes([b"x"]) == (keccak(leaf), {keccak(leaf): leaf})


@pytest.mark.parametrize("count", [0, 1, 2, 127, 128, 129, 255, 256, 257, 1000])
@pytest.mark.parametrize("item_size", [1, 31, 120])
def test_matches_py_evm_across_rlp_key_lengths(count: int, item_size: int) -> None:
    # 1-byte items make leaves short enough to be embedded in their branch.
    items = [
        index.to_bytes(4, "big")[-item_size:].rjust(item_size, b"\xaa") for index in range(count)
    ]

    assert ordered_trie_root_and_nodes(items) == py_evm(items)


def test_empty_items_are_left_out_like_py_evm_does() -> None:
    items = [b"a" * 40, b"", b"c" * 40]

    assert ordered_trie_root_and_nodes(items) == py_evm(items)
    assert ordered_trie_root_and_nodes([b""]) == (EMPTY_TRIE_ROOT, {})
