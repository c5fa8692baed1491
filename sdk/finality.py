"""Checks a block's finality certificate without trusting the node that served it.

A certificate (`cityledger_getFinalityCertificate`) carries commit seals: 65-byte secp256k1
signatures r || s || v over the raw 32-byte block hash. The block is final when seals of at least
ceil(2n/3) distinct members of the validator set (which the caller supplies, for example
Consortium.getValidators() read at the parent block) recover correctly. The rule itself is the
node's (`cityledger.node.consensus.finality_certificate`, importable without py-evm): one rule,
so that what the SDK accepts is exactly what validators accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_bytes, to_canonical_address, to_checksum_address

from cityledger.node.consensus.finality_certificate import (
    InvalidCertificate,
    quorum_size,
    verify_seals,
)
from cityledger.sdk.errors import LedgerError


class FinalityError(LedgerError, ValueError):
    """The certificate does not prove the block final; the message says why."""


def quorum(validator_count: int) -> int:
    """ceil(2n/3) seals make a block final."""
    return quorum_size(validator_count)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class Certificate:
    block_number: int
    block_hash: bytes
    round: int
    validators: tuple[str, ...]
    signers: tuple[str, ...]
    seals: tuple[bytes, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Certificate:
        try:
            return cls(
                block_number=_int(data["blockNumber"]),
                block_hash=to_bytes(hexstr=data["blockHash"]),
                round=_int(data.get("round", 0)),
                validators=tuple(to_checksum_address(v) for v in data.get("validators", [])),
                signers=tuple(to_checksum_address(s) for s in data.get("signers", [])),
                seals=tuple(to_bytes(hexstr=s) for s in data["seals"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FinalityError(f"malformed finality certificate: {exc!r}") from None


@dataclass(frozen=True)
class FinalityProof:
    """What a successful check established."""

    block_number: int
    block_hash: str
    signers: tuple[str, ...]
    validator_count: int
    quorum: int


def verify_certificate(
    block_hash: bytes | str,
    block_number: int,
    certificate: Certificate | dict[str, Any],
    validators: Sequence[str],
) -> FinalityProof:
    """Checks that `certificate` proves block (`block_number`, `block_hash`) final under the
    trusted `validators`; raises FinalityError saying what failed."""
    cert = (
        certificate if isinstance(certificate, Certificate) else Certificate.from_json(certificate)
    )
    expected = to_bytes(hexstr=block_hash) if isinstance(block_hash, str) else block_hash
    if cert.block_hash != expected or cert.block_number != block_number:
        raise FinalityError(
            f"certificate is for block {cert.block_number} 0x{cert.block_hash.hex()}, "
            f"not {block_number} 0x{expected.hex()}"
        )
    if cert.signers and len(cert.signers) != len(cert.seals):
        raise FinalityError("certificate lists a different number of signers and seals")
    claimed: list[bytes | None] = [to_canonical_address(a) for a in cert.signers]
    claimed = claimed or [None] * len(cert.seals)  # without a signer list: whoever recovers
    trusted = [to_canonical_address(v) for v in validators]
    try:
        signers = verify_seals(
            block_number, expected, list(zip(claimed, cert.seals, strict=True)), trusted
        )
    except InvalidCertificate as exc:
        raise FinalityError(str(exc)) from None
    members = len(set(trusted))
    return FinalityProof(
        block_number,
        "0x" + expected.hex(),
        tuple(to_checksum_address(s) for s in signers),
        members,
        quorum(members),
    )
