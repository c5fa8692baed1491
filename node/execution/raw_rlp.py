"""RLP without sedes, through rusty-rlp: byte strings and nested lists of them, as they are
on the wire. pyrlp's own `decode` and `encode` without sedes infer one per item in Python."""

from __future__ import annotations

from typing import Any

import rlp
import rusty_rlp

from cityledger.node.decoding import MAX_RLP_DEPTH, check_rlp_depth


def decode_items(encoded: bytes, max_depth: int = MAX_RLP_DEPTH) -> Any:
    """The canonical (strict) decoding of lists nested at most `max_depth` deep; anything
    else raises pyrlp's `DecodingError`. rusty-rlp recurses in Rust: the depth is bounded
    before it runs (see `cityledger.node.decoding`)."""
    try:
        check_rlp_depth(encoded, max_depth)
        return rusty_rlp.decode_raw(encoded, True, False)[0]
    except (ValueError, rusty_rlp.DecodingError) as exc:
        raise rlp.DecodingError(f"not RLP: {exc}", encoded) from None


def decode_stored(encoded: bytes) -> Any:
    """Decoding of what this node wrote to its own database: no depth scan (it is not input
    from the network), so large records decode at rusty-rlp's speed."""
    return rusty_rlp.decode_raw(encoded, True, False)[0]


def encode_items(items: Any) -> bytes:
    encoded: bytes = rusty_rlp.encode_raw(items)
    return encoded
