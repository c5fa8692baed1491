"""Finality certificates: the commit seals that make a block final, and how anyone checks them.

A seal is a 65-byte secp256k1 signature by a validator key over the raw 32-byte block hash.
A block is final when seals from at least ceil(2n/3) distinct validators of its height's set
(the set Consortium.getValidators() returned at the parent block) recover correctly.

The one statement of that rule: the node checks certificates with it, and so does the SDK
(`cityledger.sdk.finality`), which imports this module without py-evm (only coincurve, rlp and
eth-utils are needed here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp

from cityledger.node.consensus.signing import Address, recover_signer
from cityledger.node.decoding import check_rlp_depth


def quorum_size(validator_count: int) -> int:
    """ceil(2n/3): any two quorums share at least f+1 validators, so at least one honest one."""
    return (2 * validator_count + 2) // 3


class InvalidCertificate(ValueError):
    """A finality certificate that does not prove its block final; the message says why."""


def verify_seals(
    height: int,
    block_hash: bytes,
    seals: Sequence[tuple[Address | None, bytes]],
    validators: Sequence[Address],
) -> tuple[Address, ...]:
    """The signers of `seals` over `block_hash`, in seal order, if they are distinct members
    of `validators` and at least a quorum of them; raises InvalidCertificate saying what failed.
    A seal's claimed signer, where given, must be the one it recovers to."""
    members = set(validators)
    if not members:
        raise InvalidCertificate("no validators to check the certificate against")
    signers: list[Address] = []
    for index, (claimed, seal) in enumerate(seals):
        signer = recover_signer(block_hash, seal)
        if signer is None:
            raise InvalidCertificate(
                f"seal {index} does not recover: invalid r, s or v (or a high s), or not 65 bytes"
            )
        if claimed is not None and signer != claimed:
            raise InvalidCertificate(
                f"seal {index} is by 0x{signer.hex()}, not the listed 0x{claimed.hex()}"
            )
        if signer not in members:
            raise InvalidCertificate(
                f"seal {index} is by 0x{signer.hex()}, who is not a validator at height {height}"
            )
        if signer in signers:
            raise InvalidCertificate(f"validator 0x{signer.hex()} sealed twice")
        signers.append(signer)
    needed = quorum_size(len(members))
    if len(signers) < needed:
        raise InvalidCertificate(
            f"only {len(signers)} of {len(members)} validators sealed block {height};"
            f" {needed} are needed"
        )
    return tuple(signers)


@dataclass(frozen=True)
class FinalityCertificate:
    height: int
    block_hash: bytes
    round: int
    seals: tuple[tuple[Address, bytes], ...]  # (claimed signer, seal), sorted by signer

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode(
            [self.height, self.block_hash, self.round, [[a, s] for a, s in self.seals]]
        )
        return encoded

    @staticmethod
    def decode(raw: bytes) -> FinalityCertificate:
        try:
            check_rlp_depth(raw, max_depth=3)  # pyrlp recurses
            height, block_hash, round_, seals = rlp.decode(raw)
            pairs = tuple((bytes(a), bytes(s)) for a, s in seals)
            if len(block_hash) != 32 or any(len(a) != 20 or len(s) != 65 for a, s in pairs):
                raise ValueError("wrong field length")
            return FinalityCertificate(
                int.from_bytes(height, "big"), block_hash, int.from_bytes(round_, "big"), pairs
            )
        except (rlp.DecodingError, ValueError, TypeError) as exc:
            raise InvalidCertificate(f"not a finality certificate: {exc}") from None

    def to_json(self, validators: Sequence[Address]) -> dict[str, Any]:
        """The JSON-RPC shape: anyone can recover the signers from `seals` and `blockHash`."""
        return {
            "blockNumber": hex(self.height),
            "blockHash": "0x" + self.block_hash.hex(),
            "round": hex(self.round),
            "validators": ["0x" + v.hex() for v in validators],
            "signers": ["0x" + a.hex() for a, _ in self.seals],
            "seals": ["0x" + s.hex() for _, s in self.seals],
        }

    def verify(self, validators: Sequence[Address]) -> tuple[Address, ...]:
        """The distinct validators whose seals recover correctly, sorted; raises
        InvalidCertificate unless they are a quorum of `validators`."""
        return tuple(sorted(verify_seals(self.height, self.block_hash, self.seals, validators)))
