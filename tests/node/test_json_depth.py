"""The JSON nesting bound against two independent paths: the depth of the value itself, and
what the stdlib decoder makes of arbitrary bracket-and-quote soup."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.node.decoding import TooDeep, check_json_depth

# Strings full of what the scan must look past: brackets, quotes, backslashes, escapes.
tricky_text = st.text(alphabet='[]{}"\\/\n\t aé\u2028', max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


@given(values, st.integers(1, 8), st.booleans())
@settings(max_examples=400)
def test_valid_json_is_refused_exactly_when_it_nests_too_deep(
    value: Any, bound: int, ascii_only: bool
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    if depth(value) > bound:
        with pytest.raises(TooDeep):
            check_json_depth(body, bound)
    else:
        check_json_depth(body, bound)


@given(st.text(alphabet='[]{}"\\,:0 ', max_size=60), st.integers(1, 4))
@settings(max_examples=1000)
def test_whatever_passes_the_scan_decodes_within_the_bound_or_not_at_all(
    soup: str, bound: int
) -> None:
    body = soup.encode()
    try:
        check_json_depth(body, bound)
    except TooDeep:
        return
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return
    assert depth(value) <= bound


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # never closed: the decoder would recurse before finding out
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b'["\\\\"' + b",[" * 40,  # an escaped backslash does not open a string
        b'"\\u005b"' + b"[" * 33,  # an escape in a string, then the nesting
    ],
)
def test_deep_or_deep_and_malformed_input_is_refused(body: bytes) -> None:
    with pytest.raises(TooDeep):
        check_json_depth(body, 32)


def test_brackets_inside_strings_and_mismatched_kinds_are_not_nesting() -> None:
    check_json_depth(json.dumps(["[" * 100, "{" * 100, '\\"[[[[[[']).encode(), 2)
    check_json_depth(b"[}" * 100_000, 1)  # malformed, shallow: the decoder refuses it
