"""Validly signed messages with arbitrary contents, from validators and strangers, fed to one
validator's core: it may ignore them or flag equivocation, but must never raise (a raise would
stop the node's consensus loop), and never decide a block it did not find valid."""

from __future__ import annotations

import random

from hypothesis import event, given, settings
from hypothesis import strategies as st

from cityledger.node.config import RoundTimeouts
from cityledger.node.consensus.core import Decide, QbftCore
from cityledger.node.consensus.messages import (
    NO_ROUND,
    CandidateBlock,
    MessageKind,
    SignedMessage,
    sign_message,
)
from cityledger.node.consensus.signing import KeySigner

CHAIN_ID = 99
SIGNERS = [KeySigner(bytes([i + 1]) * 32) for i in range(5)]  # the last one is no validator
VALIDATORS = [s.address for s in SIGNERS[:4]]
HASHES = [bytes([h]) * 32 for h in range(3)] + [b"", b"\x01"]

blocks = st.one_of(
    st.none(),
    st.builds(CandidateBlock, st.sampled_from(HASHES), st.binary(max_size=8)),
)


@st.composite
def messages(draw: st.DrawFn, depth: int) -> SignedMessage:
    signer = draw(st.sampled_from(SIGNERS))
    digest = draw(st.sampled_from(HASHES))
    # Commit seals: none, garbage, or the sender's real seal over the digest.
    seal = draw(st.sampled_from([b"", b"\x07" * 65, signer.sign(digest.rjust(32, b"\0"))]))
    return sign_message(
        signer,
        CHAIN_ID,
        draw(st.sampled_from(MessageKind)),
        draw(st.integers(0, 3)),
        draw(st.integers(0, 3)),
        digest,
        prepared_round=draw(st.integers(NO_ROUND, 3)),
        commit_seal=seal,
        block=draw(blocks),
        justification=tuple(draw(st.lists(messages(depth - 1), max_size=4))) if depth else (),
    )


def honest_round() -> list[SignedMessage]:
    """Height 1, round 0 as three honest validators play it (the proposer is validators[1])."""
    block = CandidateBlock(HASHES[0], b"block")
    proposal = sign_message(
        SIGNERS[1], CHAIN_ID, MessageKind.PROPOSAL, 1, 0, block.hash, block=block
    )
    votes = [
        sign_message(signer, CHAIN_ID, MessageKind.PREPARE, 1, 0, block.hash)
        for signer in SIGNERS[1:4]
    ] + [
        sign_message(
            signer,
            CHAIN_ID,
            MessageKind.COMMIT,
            1,
            0,
            block.hash,
            commit_seal=signer.sign(block.hash),
        )
        for signer in SIGNERS[1:4]
    ]
    return [proposal, *votes]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(messages(depth=2), max_size=25),
    st.randoms(use_true_random=False),
    st.sets(st.sampled_from(HASHES)),
)
def test_a_core_survives_any_signed_messages(
    hostile: list[SignedMessage], shuffle: random.Random, valid_blocks: set[bytes]
) -> None:
    inbox = hostile + honest_round()
    shuffle.shuffle(inbox)
    core = QbftCore(
        SIGNERS[0],
        CHAIN_ID,
        lambda _height, block: block.hash in valid_blocks,
        RoundTimeouts(),
    )
    outputs = core.start_height(1, VALIDATORS)
    for message in inbox:
        outputs += core.handle_message(message)
    outputs += core.handle_timeout(1, 0)
    for message in inbox:
        outputs += core.handle_message(message)
    # Whatever it was sent, it decides only a block it found valid, with a quorum of seals.
    decisions = [o for o in outputs if isinstance(o, Decide)]
    event(f"decided: {bool(decisions)}")
    for decision in decisions:
        assert decision.block.hash in valid_blocks
        assert len(decision.certificate.verify(VALIDATORS)) >= 3
