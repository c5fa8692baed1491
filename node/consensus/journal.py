"""The validator's write-ahead journal: what it signed (so a restart never equivocates) and the
equivocation evidence it collected, in the node's LevelDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import rlp

from cityledger.node.consensus.core import DurableState, Equivocation
from cityledger.node.consensus.messages import CandidateBlock, MalformedMessage, SignedMessage
from cityledger.node.storage import schema


class KeyValueStore(Protocol):
    def __getitem__(self, key: bytes) -> bytes: ...

    def write_atomically(self, puts: dict[bytes, bytes], deletes: set[bytes]) -> None: ...

    def iterate(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class CorruptJournal(Exception):
    """The journal on disk does not decode: refuse to vote rather than risk equivocating."""


def encode_state(state: DurableState) -> bytes:
    block = (
        [state.prepared_block.hash, state.prepared_block.payload] if state.prepared_block else []
    )
    encoded: bytes = rlp.encode(
        [
            state.height,
            state.round,
            state.prepared_round + 1,
            block,
            [m.encode() for m in state.prepared_certificate],
            [m.encode() for m in state.sent],
        ]
    )
    return encoded


def decode_state(raw: bytes) -> DurableState:
    try:
        height, round_, prepared_round, block, certificate, sent = rlp.decode(raw)
        return DurableState(
            height=int.from_bytes(height, "big"),
            round=int.from_bytes(round_, "big"),
            prepared_round=int.from_bytes(prepared_round, "big") - 1,
            prepared_block=CandidateBlock(block[0], block[1]) if block else None,
            prepared_certificate=tuple(SignedMessage.decode(m) for m in certificate),
            sent=tuple(SignedMessage.decode(m) for m in sent),
        )
    except (rlp.DecodingError, ValueError, TypeError, IndexError, MalformedMessage) as exc:
        raise CorruptJournal(f"the consensus journal does not decode: {exc}") from None


class ConsensusJournal:
    def __init__(self, db: KeyValueStore) -> None:
        self._db = db

    def save(self, state: DurableState) -> None:
        """Synced to disk before returning: the caller sends only afterwards."""
        self._db.write_atomically({schema.CONSENSUS_STATE: encode_state(state)}, set())

    def load(self) -> DurableState | None:
        try:
            raw = self._db[schema.CONSENSUS_STATE]
        except KeyError:
            return None
        return decode_state(raw)

    def record_evidence(self, evidence: Equivocation) -> bool:
        """Keeps one pair per offence (validator, height, round, kind); False if already kept."""
        first = evidence.first
        key = schema.evidence_key(first.height, first.round, first.kind, first.sender)
        if any(True for _ in self._db.iterate(key, key + b"\0")):
            return False
        value = rlp.encode([first.encode(), evidence.second.encode()])
        self._db.write_atomically({key: value}, set())
        return True

    def evidence(self) -> Iterator[Equivocation]:
        """All kept evidence, by height, round, kind and validator."""
        for _, value in self._db.iterate(schema.EVIDENCE, schema.EVIDENCE + b"\xff" * 33):
            first, second = rlp.decode(value)
            yield Equivocation(SignedMessage.decode(first), SignedMessage.decode(second))
