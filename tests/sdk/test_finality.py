"""The finality verifier against certificates built here with real secp256k1 keys."""

from __future__ import annotations

from typing import Any

import pytest
from eth_keys import keys
from eth_keys.datatypes import PrivateKey
from eth_utils import keccak

from cityledger.sdk.finality import FinalityError, quorum, verify_certificate

VALIDATOR_KEYS = [keys.PrivateKey(keccak(text=f"validator {i}")) for i in range(4)]
VALIDATORS = [k.public_key.to_checksum_address() for k in VALIDATOR_KEYS]
OUTSIDER = keys.PrivateKey(keccak(text="not a validator"))
BLOCK_HASH = keccak(text="block 42")
BLOCK_NUMBER = 42


def seal(key: PrivateKey, block_hash: bytes = BLOCK_HASH, v_offset: int = 0) -> str:
    signature = key.sign_msg_hash(block_hash)
    # bytes: eth-keys types Signature.r and .s as Any (their setters are untyped overrides).
    raw: bytes = signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big")
    return "0x" + (raw + bytes([signature.v + v_offset])).hex()


def certificate(sealers: list[PrivateKey], v_offset: int = 0) -> dict[str, Any]:
    return {
        "blockNumber": hex(BLOCK_NUMBER),
        "blockHash": "0x" + BLOCK_HASH.hex(),
        "round": "0x0",
        "validators": VALIDATORS,
        "signers": [k.public_key.to_checksum_address() for k in sealers],
        "seals": [seal(k, v_offset=v_offset) for k in sealers],
    }


def test_quorum_is_ceil_two_thirds() -> None:
    assert [quorum(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 2, 3, 4, 4, 5]


@pytest.mark.parametrize("v_offset", [0, 27])
def test_valid_certificate(v_offset: int) -> None:
    proof = verify_certificate(
        BLOCK_HASH, BLOCK_NUMBER, certificate(VALIDATOR_KEYS[:3], v_offset), VALIDATORS
    )
    assert proof.signers == tuple(VALIDATORS[:3]) and proof.quorum == 3


def test_too_few_seals() -> None:
    with pytest.raises(FinalityError, match="only 2 of 4"):
        verify_certificate(BLOCK_HASH, BLOCK_NUMBER, certificate(VALIDATOR_KEYS[:2]), VALIDATORS)


def test_duplicate_signer() -> None:
    cert = certificate([VALIDATOR_KEYS[0], VALIDATOR_KEYS[0], VALIDATOR_KEYS[1]])
    with pytest.raises(FinalityError, match="sealed twice"):
        verify_certificate(BLOCK_HASH, BLOCK_NUMBER, cert, VALIDATORS)


def test_non_validator() -> None:
    cert = certificate([*VALIDATOR_KEYS[:2], OUTSIDER])
    with pytest.raises(FinalityError, match="not a validator"):
        verify_certificate(BLOCK_HASH, BLOCK_NUMBER, cert, VALIDATORS)


def test_bad_seal() -> None:
    cert = certificate(VALIDATOR_KEYS[:3])
    cert["seals"][1] = seal(VALIDATOR_KEYS[1], keccak(text="another block"))
    with pytest.raises(FinalityError):
        verify_certificate(BLOCK_HASH, BLOCK_NUMBER, cert, VALIDATORS)
    cert["seals"][1] = "0x" + "00" * 65
    with pytest.raises(FinalityError, match="invalid r, s or v"):
        verify_certificate(BLOCK_HASH, BLOCK_NUMBER, cert, VALIDATORS)


def test_certificate_for_another_block() -> None:
    with pytest.raises(FinalityError, match="not 43"):
        verify_certificate(BLOCK_HASH, 43, certificate(VALIDATOR_KEYS), VALIDATORS)
