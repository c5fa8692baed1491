"""QBFT messages: what validators sign and send each other, and their wire encoding.

A message's signature covers its kind, height, round, digest, prepared round and commit seal,
bound to the chain id. Justifications (round-change and prepare certificates) and blocks ride
along unsigned by the carrier: each embedded message carries its own signature, and a block is
checked against the signed digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import rlp
from eth_utils import keccak

from cityledger.node.consensus.signing import Address, MessageSigner, recover_signer
from cityledger.node.execution.raw_rlp import decode_items

DOMAIN = b"cityledger/qbft/v1"
NO_ROUND = -1
# Bounds of the integer fields: block numbers are 8 bytes in storage keys and rounds 4 in the
# evidence keys. A round beyond 2**31 would take capped timeouts centuries to reach honestly;
# a message that claims one is refused when decoded, before anything stores it.
MAX_HEIGHT = 2**63 - 1
MAX_ROUND = 2**31 - 1


class MessageKind(IntEnum):
    PROPOSAL = 0
    PREPARE = 1
    COMMIT = 2
    ROUND_CHANGE = 3


class MalformedMessage(ValueError):
    """Bytes that do not decode to a consensus message."""


@dataclass(frozen=True)
class CandidateBlock:
    """A proposed block as consensus sees it: its hash, and its encoding for peers to execute."""

    hash: bytes
    payload: bytes


@dataclass(frozen=True)
class SignedMessage:
    kind: MessageKind
    height: int
    round: int
    digest: bytes  # block hash; empty in a round change that carries no prepared block
    sender: Address
    signature: bytes
    prepared_round: int = NO_ROUND  # round changes only
    commit_seal: bytes = b""  # commits only: the sender's signature over the block hash
    block: CandidateBlock | None = None  # proposals, and round changes that carry a prepared block
    justification: tuple[SignedMessage, ...] = field(default=())

    def signing_digest(self, chain_id: int) -> bytes:
        return signing_digest(
            chain_id,
            self.kind,
            self.height,
            self.round,
            self.digest,
            self.prepared_round,
            self.commit_seal,
        )

    def signed_part(self) -> tuple[int, int, int, bytes, int, bytes]:
        """What the signature covers: two messages that differ here but share a (kind, height,
        round, sender) are an equivocation."""
        return (
            self.kind,
            self.height,
            self.round,
            self.digest,
            self.prepared_round,
            self.commit_seal,
        )

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode(_to_rlp(self))
        return encoded

    @staticmethod
    def decode(data: bytes) -> SignedMessage:
        try:
            return _from_rlp(decode_items(data), depth=0)
        except (rlp.DecodingError, ValueError, TypeError, IndexError) as exc:
            raise MalformedMessage(f"not a consensus message: {exc}") from None


def signing_digest(
    chain_id: int,
    kind: int,
    height: int,
    round_: int,
    digest: bytes,
    prepared_round: int,
    commit_seal: bytes,
) -> bytes:
    payload: bytes = rlp.encode(
        [chain_id, int(kind), height, round_, digest, prepared_round + 1, commit_seal]
    )
    return keccak(DOMAIN + payload)


def sign_message(
    signer: MessageSigner,
    chain_id: int,
    kind: MessageKind,
    height: int,
    round_: int,
    digest: bytes,
    *,
    prepared_round: int = NO_ROUND,
    commit_seal: bytes = b"",
    block: CandidateBlock | None = None,
    justification: tuple[SignedMessage, ...] = (),
) -> SignedMessage:
    to_sign = signing_digest(chain_id, kind, height, round_, digest, prepared_round, commit_seal)
    return SignedMessage(
        kind=kind,
        height=height,
        round=round_,
        digest=digest,
        sender=signer.address,
        signature=signer.sign(to_sign),
        prepared_round=prepared_round,
        commit_seal=commit_seal,
        block=block,
        justification=justification,
    )


def signature_is_valid(message: SignedMessage, chain_id: int) -> bool:
    return recover_signer(message.signing_digest(chain_id), message.signature) == message.sender


def _to_rlp(m: SignedMessage) -> list[object]:
    block: list[bytes] = [m.block.hash, m.block.payload] if m.block else []
    return [
        int(m.kind),
        m.height,
        m.round,
        m.digest,
        m.sender,
        m.signature,
        m.prepared_round + 1,
        m.commit_seal,
        block,
        [_to_rlp(j) for j in m.justification],
    ]


def _int(item: object, name: str, most: int) -> int:
    if not isinstance(item, bytes) or item[:1] == b"\0":
        raise ValueError(f"{name} is not an integer in canonical form")
    value = int.from_bytes(item, "big")
    if value > most:
        raise ValueError(f"{name} {value} is beyond {most}")
    return value


def _bytes(item: object, *lengths: int) -> bytes:
    """A byte string of one of `lengths` (of any length without)."""
    if not isinstance(item, bytes) or (lengths and len(item) not in lengths):
        raise ValueError("expected bytes" + (f" of length {lengths}" if lengths else ""))
    return item


def _from_rlp(item: object, depth: int) -> SignedMessage:
    # A proposal embeds round changes, which embed prepares: never deeper than two levels.
    if depth > 2 or not isinstance(item, list) or len(item) != 10:
        raise ValueError("wrong message shape")
    kind = MessageKind(_int(item[0], "kind", max(MessageKind)))
    block_item = item[8]
    if not isinstance(block_item, list) or len(block_item) not in (0, 2):
        raise ValueError("wrong block shape")
    block = CandidateBlock(_bytes(block_item[0], 32), _bytes(block_item[1])) if block_item else None
    justification = item[9]
    if not isinstance(justification, list):
        raise ValueError("wrong justification shape")
    return SignedMessage(
        kind=kind,
        height=_int(item[1], "height", MAX_HEIGHT),
        round=_int(item[2], "round", MAX_ROUND),
        digest=_bytes(item[3], 0, 32),
        sender=_bytes(item[4], 20),
        signature=_bytes(item[5], 65),
        prepared_round=_int(item[6], "prepared round", MAX_ROUND + 1) - 1,
        commit_seal=_bytes(item[7], 0, 65),
        block=block,
        justification=tuple(_from_rlp(j, depth + 1) for j in justification),
    )
