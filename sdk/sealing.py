"""A delivery sealed to its grantee alone: ECIES over secp256k1, streamed in chunks so neither
side holds the file in memory.

    sealed = MAGIC || ephemeral public key (33 bytes, compressed) || chunk*
    chunk  = length (4 bytes, big-endian) || AES-256-GCM(key, nonce = index (12 bytes),
                                                         plaintext chunk, aad = final flag)
    key    = HKDF-SHA256(ECDH(ephemeral, grantee), info = MAGIC || ephemeral || grantee key)

The grantee's public key is the one its signed request recovers to, so the gateway needs no key
directory. The last chunk is flagged in its associated data: a file cut at a chunk boundary does
not open. Needs the `cryptography` package (cityledger[data]).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cityledger.sdk.errors import LedgerError

MAGIC = b"cityledger-sealed/1\n"
CHUNK = 1 << 16
_TAG = 16
_FINAL, _MORE = b"\x01", b"\x00"


class Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class SealError(LedgerError, ValueError):
    """A sealed file that does not open: wrong key, altered or cut short."""


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    info = MAGIC + ephemeral + recipient
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(shared)


def _chunks(source: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """(chunk, is_last) pairs; an empty source is one empty last chunk."""
    current = source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        yield current, not following
        if not following:
            return
        current = following


def seal(source: Path, target: Path, recipient_public_key: bytes) -> None:
    """Encrypts `source` into `target` for the holder of the private key of
    `recipient_public_key` (64 raw bytes or an SEC1 encoding)."""
    recipient = coincurve.PublicKey(
        b"\x04" + recipient_public_key if len(recipient_public_key) == 64 else recipient_public_key
    ).format(compressed=True)
    ephemeral = coincurve.PrivateKey()
    ephemeral_public = ephemeral.public_key.format(compressed=True)
    cipher = AESGCM(_key(ephemeral.ecdh(recipient), ephemeral_public, recipient))
    with source.open("rb") as plain, target.open("wb") as out:
        out.write(MAGIC + ephemeral_public)
        for index, (chunk, last) in enumerate(_chunks(plain)):
            sealed = cipher.encrypt(index.to_bytes(12, "big"), chunk, _FINAL if last else _MORE)
            out.write(len(sealed).to_bytes(4, "big") + sealed)


def open_sealed(source: BinaryIO, target: Writer, private_key: bytes) -> None:
    """Decrypts a sealed stream into `target`; raises SealError, having written only
    authenticated chunks, if it does not open completely."""
    header = source.read(len(MAGIC) + 33)
    if len(header) != len(MAGIC) + 33 or not header.startswith(MAGIC):
        raise SealError("not a sealed cityledger delivery")
    ephemeral_public = header[len(MAGIC) :]
    key = coincurve.PrivateKey(private_key)
    try:
        shared = key.ecdh(ephemeral_public)
    except ValueError:
        raise SealError("the sealed delivery's ephemeral key is invalid") from None
    cipher = AESGCM(_key(shared, ephemeral_public, key.public_key.format(compressed=True)))
    index = 0
    while True:
        prefix = source.read(4)
        if len(prefix) != 4:
            raise SealError("the sealed delivery is cut short (no final chunk)")
        length = int.from_bytes(prefix, "big")
        if not _TAG <= length <= CHUNK + _TAG:
            raise SealError(f"chunk {index} has an impossible length {length}")
        sealed = source.read(length)
        if len(sealed) != length:
            raise SealError(f"chunk {index} is cut short")
        nonce = index.to_bytes(12, "big")
        for flag in (_MORE, _FINAL):
            try:
                target.write(cipher.decrypt(nonce, sealed, flag))
                break
            except InvalidTag:
                continue
        else:
            raise SealError(f"chunk {index} does not open: wrong key, or the file was altered")
        if flag == _FINAL:
            if source.read(1):
                raise SealError("data follows the final chunk")
            return
        index += 1
