"""The node's caches are bounded by the memory their entries hold, not by how many there are."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cityledger.node.storage.cache import LruCache


@given(sizes=st.lists(st.integers(0, 5_000), max_size=60), bound=st.integers(1, 10_000))
def test_the_bytes_held_never_exceed_the_bound_and_the_newest_entries_stay(
    sizes: list[int], bound: int
) -> None:
    cache: LruCache[int, bytes] = LruCache(bound, len)
    for key, size in enumerate(sizes):
        cache.put(key, bytes(size))
        assert cache.bytes <= bound
        assert cache.bytes == sum(len(v) for v in (cache.get(k) for k in range(key + 1)) if v)
        if size <= bound:
            assert cache.get(key) == bytes(size)  # the entry just put is kept if it fits


def test_reading_an_entry_keeps_it_over_older_ones() -> None:
    cache: LruCache[str, bytes] = LruCache(300, len)
    cache.put("a", bytes(100))
    cache.put("b", bytes(100))
    cache.put("c", bytes(100))
    assert cache.get("a") is not None
    cache.put("d", bytes(100))  # evicts the least recently used: b
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 3
