"""RLP without sedes, through rusty-rlp: byte strings and nested lists of them, as they are
on the wire. pyrlp's own `decode` and `encode` without sedes infer one per item in Python."""

from __future__ import annotations

from typing import Any

import rlp
import rusty_rlp


def decode_items(encoded: bytes) -> Any:
    """The canonical (strict) decoding; malformed input raises pyrlp's `DecodingError`."""
    try:
        return rusty_rlp.decode_raw(encoded, True, False)[0]
    except rusty_rlp.DecodingError as exc:
        raise rlp.DecodingError(f"not RLP: {exc}", encoded) from None


def encode_items(items: Any) -> bytes:
    encoded: bytes = rusty_rlp.encode_raw(items)
    return encoded
