"""secp256k1 signatures for consensus messages and commit seals (65 bytes: r || s || v, v in {0,1}).

Commit seals are signatures over the raw 32-byte block hash, so anyone, even a contract or an
offline auditor, can recover the signer with ecrecover-style code and check a quorum.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import coincurve
from eth_utils import keccak

Address = bytes  # 20-byte canonical address

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class MessageSigner(Protocol):
    @property
    def address(self) -> Address: ...

    def sign(self, digest: bytes) -> bytes:
        """65-byte recoverable signature over a 32-byte digest."""
        ...


class KeySigner:
    """Signs with a private key held in memory (a validator's node key)."""

    def __init__(self, private_key: bytes) -> None:
        self._key = coincurve.PrivateKey(private_key)
        self._address = address_of(self._key.public_key)

    @property
    def address(self) -> Address:
        return self._address

    def sign(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("can only sign a 32-byte digest")
        return self._key.sign_recoverable(digest, hasher=None)


def address_of(public_key: coincurve.PublicKey) -> Address:
    return keccak(public_key.format(compressed=False)[1:])[12:]


@lru_cache(maxsize=65536)
def recover_signer(digest: bytes, signature: bytes) -> Address | None:
    """The address that signed `digest`, or None for a malformed or non-canonical signature.
    Cached: embedded justifications repeat the same signatures many times."""
    if len(digest) != 32 or len(signature) != 65:
        return None
    v = signature[64]
    if v >= 27:
        v -= 27
    s = int.from_bytes(signature[32:64], "big")
    if v not in (0, 1) or not 0 < s <= SECP256K1_N // 2:
        return None
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v]), digest, hasher=None
        )
    except ValueError:
        return None
    return address_of(public_key)
