"""Finality certificates: the commit seals that make a block final, and how anyone checks them.

A seal is a 65-byte secp256k1 signature by a validator key over the raw 32-byte block hash.
A block is final when seals from at least ceil(2n/3) distinct validators of its height's set
(the set Consortium.getValidators() returned at the parent block) recover correctly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cityledger.node.consensus.signing import Address, recover_signer


def quorum_size(validator_count: int) -> int:
    """ceil(2n/3): any two quorums share at least f+1 validators, so at least one honest one."""
    return (2 * validator_count + 2) // 3


class InvalidCertificate(ValueError):
    """A finality certificate that does not prove its block final."""


@dataclass(frozen=True)
class FinalityCertificate:
    height: int
    block_hash: bytes
    round: int
    seals: tuple[tuple[Address, bytes], ...]  # (claimed signer, seal), sorted by signer

    def verify(self, validators: Sequence[Address]) -> tuple[Address, ...]:
        """Returns the distinct validators whose seals recover correctly; raises if they are
        fewer than a quorum of `validators`."""
        members = set(validators)
        signers: set[Address] = set()
        for claimed, seal in self.seals:
            signer = recover_signer(self.block_hash, seal)
            if signer is None or signer != claimed:
                raise InvalidCertificate(
                    f"seal for block {self.block_hash.hex()} does not recover to 0x{claimed.hex()}"
                )
            if signer not in members:
                raise InvalidCertificate(
                    f"0x{signer.hex()} is not a validator at height {self.height}"
                )
            signers.add(signer)
        needed = quorum_size(len(members))
        if len(signers) < needed:
            raise InvalidCertificate(
                f"block {self.height} has seals from {len(signers)} distinct validators;"
                f" {needed} needed"
            )
        return tuple(sorted(signers))
