"""Checks a block's finality certificate without trusting the node that served it.

A certificate (`cityledger_getFinalityCertificate`) carries commit seals: 65-byte secp256k1
signatures r || s || v over the raw 32-byte block hash. The block is final when seals of at least
ceil(2n/3) distinct members of the validator set (which the caller supplies, for example
Consortium.getValidators() read at the parent block) recover correctly. Written independently of
the node's own implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils import ValidationError as KeyValidationError
from eth_utils import to_bytes, to_checksum_address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class FinalityError(ValueError):
    """The certificate does not prove the block final; the message says why."""


def quorum(validator_count: int) -> int:
    """ceil(2n/3) seals make a block final."""
    return -(-2 * validator_count // 3)


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


def recover_seal(block_hash: bytes, seal: bytes) -> str:
    """The address that made `seal` over `block_hash` (v may be 0/1 or 27/28)."""
    if len(seal) != 65:
        raise FinalityError(f"a seal is 65 bytes, got {len(seal)}")
    r, s, v = int.from_bytes(seal[:32], "big"), int.from_bytes(seal[32:64], "big"), seal[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1) or not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise FinalityError("seal has an invalid r, s or v")
    try:
        public = Signature(vrs=(v, r, s)).recover_public_key_from_msg_hash(block_hash)
    except (BadSignature, KeyValidationError) as exc:
        raise FinalityError(f"seal does not recover: {exc}") from None
    return str(public.to_checksum_address())


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
    trusted = {to_checksum_address(v) for v in validators}
    if not trusted:
        raise FinalityError("no validators to check against")
    if cert.signers and len(cert.signers) != len(cert.seals):
        raise FinalityError("certificate lists a different number of signers and seals")
    seen: list[str] = []
    for index, seal in enumerate(cert.seals):
        signer = recover_seal(expected, seal)
        if cert.signers and cert.signers[index] != signer:
            raise FinalityError(
                f"seal {index} is by {signer}, not the listed {cert.signers[index]}"
            )
        if signer not in trusted:
            raise FinalityError(f"seal {index} is by {signer}, who is not a validator")
        if signer in seen:
            raise FinalityError(f"validator {signer} sealed twice")
        seen.append(signer)
    needed = quorum(len(trusted))
    if len(seen) < needed:
        raise FinalityError(
            f"only {len(seen)} of {len(trusted)} validators sealed block {block_number}; "
            f"{needed} are needed"
        )
    return FinalityProof(block_number, "0x" + expected.hex(), tuple(seen), len(trusted), needed)
