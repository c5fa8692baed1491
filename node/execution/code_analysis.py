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

# Distinct codes remembered; a chain runs few contracts, and a full table simply starts over.
MAX_CODES = 1024


class SharedAnalysisCodeStream(CodeStream):
    __slots__ = ()

    # code bytes -> (valid positions, invalid positions); set.add is atomic under the GIL, and
    # two threads working out the same position reach the same answer.
    _analyses: ClassVar[dict[bytes, tuple[set[int], set[int]]]] = {}

    def __init__(self, code_bytes: bytes) -> None:
        super().__init__(code_bytes)
        analyses = SharedAnalysisCodeStream._analyses
        shared = analyses.get(code_bytes)
        if shared is None:
            if len(analyses) >= MAX_CODES:
                analyses.clear()
            shared = analyses[code_bytes] = (self.valid_positions, self.invalid_positions)
        self.valid_positions, self.invalid_positions = shared
