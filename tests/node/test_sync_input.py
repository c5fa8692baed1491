"""What a peer answers to a sync request is untrusted: hostile bytes are refused with
InvalidCertificate, never another exception that would end the node's sync loop."""

from __future__ import annotations

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st

from cityledger.node.consensus.finality_certificate import (
    FinalityCertificate,
    InvalidCertificate,
)
from cityledger.node.consensus.messages import CandidateBlock
from cityledger.node.p2p.sync import decode_final_block, encode_final_block

rlp_items = st.recursive(
    st.binary(max_size=40), lambda children: st.lists(children, max_size=4), max_leaves=12
)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x01\x02",  # not RLP
        rlp.encode(b"abc"),  # bytes, not a list
        rlp.encode([b"a", b"b"]),  # two fields
        rlp.encode([[b"x"], b"payload", b""]),  # a list where the hash belongs
        rlp.encode([b"h" * 32, [b"p"], b""]),  # a list where the block belongs
        rlp.encode([b"h" * 32, b"p", [b"c"]]),  # a list where the certificate belongs
    ],
)
def test_malformed_final_blocks_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidCertificate):
        decode_final_block(raw)


@given(rlp_items)
def test_any_rlp_is_refused_or_decoded_never_raised_otherwise(item: object) -> None:
    try:
        block, _ = decode_final_block(rlp.encode(item))
    except InvalidCertificate:
        return
    assert isinstance(block, CandidateBlock)
    assert isinstance(block.hash, bytes) and isinstance(block.payload, bytes)


def test_a_final_block_round_trips() -> None:
    certificate = FinalityCertificate(7, b"\x11" * 32, 0, ((b"\x22" * 20, b"\x33" * 65),))
    block = CandidateBlock(b"\x11" * 32, b"payload")
    assert decode_final_block(encode_final_block(block, certificate)) == (block, certificate)
