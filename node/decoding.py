"""Decoding what the network sends: JSON and RLP, with their nesting bounded before any
recursive decoder sees them.

py-evm raises Python's recursion limit to 100,000 when it is imported, so the recursive
decoders in this process (the stdlib's JSON scanner, pyrlp, rusty-rlp's Rust recursion) overflow
the C stack on deep input long before a RecursionError: the process dies without a log line.
Every decoder of network input bounds nesting with these scans first (RLP through
`cityledger.node.execution.raw_rlp`, which applies them itself). They need nothing beyond the
standard library, so the SDK's certificate checks use them too. The scans are iterative; the
JSON scan does its work in C passes over the input (about 10 ms for 5,000 logs, as long as
`json.loads` itself), the RLP scan skips whole strings, so its cost follows the number of
list headers.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# Deeper than anything valid: a JSON-RPC request nests 4 levels (eth_getLogs' topics), a block
# nests a transaction's access list 5 levels down, a consensus message its justification 7.
MAX_JSON_DEPTH = 32
MAX_RLP_DEPTH = 16

_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_INNERMOST = re.compile(rb"[\[{][\]}]")  # an open bracket closed at once: mismatched kinds too
_STEP = [1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256)]
_SINGLE_BYTES = re.compile(rb"[\x00-\x7f]*")


class TooDeep(ValueError):
    """Input nested beyond the bound for its kind."""


def _outside_strings(body: bytes) -> bytes:
    """`body` without its JSON strings. Escapes go first so that every remaining quote opens
    or closes a string; valid JSON has no escape outside a string, and the decoder stops at the
    first one it meets, before anything this might hide."""
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)
    return b"".join(body.split(b'"')[::2])


def check_json_depth(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raises TooDeep if arrays and objects in `body` nest deeper than `max_depth`. Brackets
    inside strings do not count; malformed JSON is left for the decoder to refuse.

    Each pass removes every innermost pair of brackets, one level of nesting, in C; what is
    left after `max_depth` passes is only ever input too deep or malformed, and only then is
    its depth counted bracket by bracket. A pass lowers the depth by at most one, so the count
    plus the passes never under-states the depth."""
    brackets = _outside_strings(body).translate(None, _NOT_BRACKETS)
    passes = 0
    while brackets and passes < max_depth:
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not removed:
            break
        passes += 1
    if brackets and passes + max(accumulate(map(_STEP.__getitem__, brackets))) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels")


def decode_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` of network input. Raises ValueError with a reason a client can act on."""
    check_json_depth(body, max_depth)
    try:
        return json.loads(body)
    except RecursionError:  # unreachable below the bound; kept so a change there fails safe
        raise TooDeep("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at position {exc.pos}") from None
    except ValueError:  # Python refuses integers of more than 4300 digits (sys.int_info)
        raise ValueError("a number in the JSON has too many digits") from None


def _length(data: bytes, start: int, size: int) -> int:
    if start + size > len(data):
        raise ValueError("RLP length runs past the input")
    if data[start] == 0:
        raise ValueError("RLP length has a leading zero byte")
    return int.from_bytes(data[start : start + size], "big")


def check_rlp_depth(data: bytes, max_depth: int = MAX_RLP_DEPTH) -> None:
    """Raises TooDeep if lists in `data` nest deeper than `max_depth`, and ValueError if an item
    runs past its enclosing list or the input. Canonical form is the decoder's to check."""
    ends = [len(data)]  # where each open list (and the whole input) ends
    position = 0
    while True:
        while position == ends[-1] and len(ends) > 1:
            ends.pop()
        if position >= ends[-1]:
            if position != ends[-1] or len(ends) != 1:
                raise ValueError("RLP item runs past its enclosing list")
            return
        prefix = data[position]
        if prefix < 0x80:
            run = _SINGLE_BYTES.match(data, position, ends[-1])
            assert run is not None  # the pattern matches the empty string
            position = run.end()
            continue
        if prefix <= 0xB7:
            position += 1 + prefix - 0x80
        elif prefix <= 0xBF:
            size = prefix - 0xB7
            position += 1 + size + _length(data, position + 1, size)
        else:
            if prefix <= 0xF7:
                header, payload = 1, prefix - 0xC0
            else:
                size = prefix - 0xF7
                header, payload = 1 + size, _length(data, position + 1, size)
            end = position + header + payload
            if end > ends[-1]:
                raise ValueError("RLP list runs past its enclosing list")
            if len(ends) > max_depth:
                raise TooDeep(f"RLP nested deeper than {max_depth} levels")
            ends.append(end)
            position += header
        if position > ends[-1]:
            raise ValueError("RLP string runs past its enclosing list")
