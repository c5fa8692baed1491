"""Jump-destination analysis shared by every execution of the same code.

py-evm works out, position by position, whether a JUMP target is an opcode or data inside a
PUSH, and forgets it when the message ends: each call of a contract repeated the analysis for
every jump it took (about 3 % of executing a block of contract calls). Whether a position is a
valid destination depends on the code bytes alone, so code streams of equal code share the
positions worked out so far.
"""

from __future__ import annotations

from typing import ClassVar

from eth.vm.code_stream import CodeStream

# Memory the shared analyses may hold: a code's bytes and, at most, a position set entry per
# byte (about 8 bytes each in a set, counted generously). A chain runs few contracts; clients'
# calls may bring any code, and a full table simply starts over.
MAX_BYTES = 32 * 1024 * 1024
_WEIGHT_PER_CODE_BYTE = 9


class SharedAnalysisCodeStream(CodeStream):
    __slots__ = ()

    # code bytes -> (valid positions, invalid positions); set.add is atomic under the GIL, and
    # two threads working out the same position reach the same answer.
    _analyses: ClassVar[dict[bytes, tuple[set[int], set[int]]]] = {}
    _bytes: ClassVar[int] = 0

    def __init__(self, code_bytes: bytes) -> None:
        super().__init__(code_bytes)
        analyses = SharedAnalysisCodeStream._analyses
        shared = analyses.get(code_bytes)
        if shared is None:
            weight = _WEIGHT_PER_CODE_BYTE * len(code_bytes) + 256
            if SharedAnalysisCodeStream._bytes + weight > MAX_BYTES:
                analyses.clear()
                SharedAnalysisCodeStream._bytes = 0
            shared = analyses[code_bytes] = (self.valid_positions, self.invalid_positions)
            SharedAnalysisCodeStream._bytes += weight
        self.valid_positions, self.invalid_positions = shared
