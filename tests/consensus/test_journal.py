"""The consensus journal on a real LevelDB: what a validator signed survives a reopen exactly,
evidence is kept once per offence and read back in order, and a corrupt journal is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from cityledger.node.consensus.core import DurableState, Equivocation
from cityledger.node.consensus.journal import ConsensusJournal, CorruptJournal
from cityledger.node.consensus.messages import (
    MAX_HEIGHT,
    MAX_ROUND,
    CandidateBlock,
    MessageKind,
    SignedMessage,
    sign_message,
)
from cityledger.node.consensus.signing import KeySigner
from cityledger.node.storage import schema
from cityledger.node.storage.leveldb import LevelDB

CHAIN_ID = 2024
SIGNERS = [KeySigner(keccak(text=f"validator {i}")) for i in range(3)]


def message(
    signer: int, kind: MessageKind, height: int, round_: int, block: bytes = b"a"
) -> SignedMessage:
    return sign_message(SIGNERS[signer], CHAIN_ID, kind, height, round_, keccak(block))


def conflicting(signer: int, kind: MessageKind, height: int, round_: int) -> Equivocation:
    return Equivocation(
        message(signer, kind, height, round_, b"a"), message(signer, kind, height, round_, b"b")
    )


def test_an_empty_journal_has_nothing_to_resume(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    journal = ConsensusJournal(db)
    assert journal.load() is None
    assert list(journal.evidence()) == []
    db.close()


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, MAX_HEIGHT),  # the bounds a decoded message is held to
    round_=st.integers(0, MAX_ROUND),
    prepared=st.booleans(),
    sent=st.lists(st.sampled_from(list(MessageKind)), max_size=3),
)
def test_the_state_a_validator_signed_survives_a_reopen(
    tmp_path_factory: pytest.TempPathFactory,
    height: int,
    round_: int,
    prepared: bool,
    sent: list[MessageKind],
) -> None:
    block = CandidateBlock(keccak(b"block"), b"payload")
    state = DurableState(
        height=height,
        round=round_,
        prepared_round=round_ if prepared else -1,
        prepared_block=block if prepared else None,
        prepared_certificate=(message(1, MessageKind.PREPARE, height, round_),) if prepared else (),
        sent=tuple(message(0, kind, height, round_) for kind in sent),
    )
    path = tmp_path_factory.mktemp("journal") / "db"
    db = LevelDB(path)
    ConsensusJournal(db).save(state)
    db.close()
    reopened = LevelDB(path)
    assert ConsensusJournal(reopened).load() == state
    reopened.close()


def test_evidence_is_kept_once_per_offence_and_read_in_order(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    journal = ConsensusJournal(db)
    later = conflicting(0, MessageKind.COMMIT, 7, 0)
    earlier = conflicting(1, MessageKind.PREPARE, 5, 2)
    assert journal.record_evidence(later)
    assert journal.record_evidence(earlier)
    assert not journal.record_evidence(later)  # the same offence again
    # Another kind at the same step is another offence.
    assert journal.record_evidence(conflicting(1, MessageKind.COMMIT, 5, 2))
    kept = list(journal.evidence())
    assert [(e.first.height, e.first.round, e.first.kind) for e in kept] == [
        (5, 2, MessageKind.PREPARE),
        (5, 2, MessageKind.COMMIT),
        (7, 0, MessageKind.COMMIT),
    ]
    assert kept[0] == earlier
    db.close()


def test_a_corrupt_journal_is_refused_rather_than_trusted(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    db.write_atomically({schema.CONSENSUS_STATE: b"\xc3not the journal"}, set())
    with pytest.raises(CorruptJournal, match="does not decode"):
        ConsensusJournal(db).load()
    db.close()
