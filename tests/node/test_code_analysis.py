"""Code streams of equal code share their jump analysis; py-evm's own CodeStream is the
reference."""

from __future__ import annotations

from eth.vm.code_stream import CodeStream
from hypothesis import given
from hypothesis import strategies as st

from cityledger.node.execution.code_analysis import SharedAnalysisCodeStream

# Code dense in PUSHn opcodes (0x60-0x7f), where data bytes hide opcodes.
codes = st.lists(st.one_of(st.integers(0x5B, 0x7F), st.integers(0, 0xFF)), max_size=120).map(bytes)


@given(codes, st.lists(st.integers(0, 130), max_size=40), st.lists(st.integers(0, 130)))
def test_jump_destinations_are_py_evms_whatever_order_streams_ask_in(
    code: bytes, first_asks: list[int], second_asks: list[int]
) -> None:
    # The analysis is shared across streams of this code: the first stream's questions fill
    # what the second one reads.
    first, second = SharedAnalysisCodeStream(code), SharedAnalysisCodeStream(code)
    for position in first_asks:
        assert first.is_valid_opcode(position) == CodeStream(code).is_valid_opcode(position)
    for position in second_asks:
        assert second.is_valid_opcode(position) == CodeStream(code).is_valid_opcode(position)
    assert second.valid_positions is first.valid_positions
    assert not second.valid_positions & second.invalid_positions
