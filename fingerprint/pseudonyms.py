"""Per-grant pseudonyms for identifier columns.

A pseudonym is "P", the grant's 15-bit tag and one AES block under the grant's pseudonym key,
in Crockford base32 (30 characters, upper case):

    P | tag (3 chars) | AES_grant(identifier digest (12 bytes) || 0x00000000) (26 chars)

It starts with a letter and holds no separators, so spreadsheets keep it as text (no number,
exponent or date reading). The same identifier gets the same pseudonym in every delivery under
a grant (its rows stay linkable for the grantee) and a different one under every other grant.

Tracing reads a pseudonym back without trying every grant on every value: the tag names the few
candidate grants, one decryption each gives the digest, and a table digest -> identifier built
once from the original data gives the row. The four zero bytes authenticate: a value not made
with the grant's key decrypts to them with probability 2^-32, so k valid pseudonyms among n
tried have an exact binomial tail under "this grant's key was not used", and anyone holding only
that grant key can check them.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cityledger.fingerprint.keys import CodeKey, GrantKey
from cityledger.fingerprint.prf import Bytes, decrypt_blocks, encrypt_blocks
from cityledger.fingerprint.scheme import PARAMETERS

ALPHABET = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = b"P"
TAG_CHARS = 3
BLOCK_CHARS = 26  # 130 bits: a 128-bit block under two leading zero bits
LENGTH = len(PREFIX) + TAG_CHARS + BLOCK_CHARS
DIGEST_BYTES = 16 - PARAMETERS.check_bytes

_DECODE = np.full(256, -1, dtype=np.int16)  # character -> its 5-bit value, -1 if none
for _value, _char in enumerate(ALPHABET + b"OIL"):  # and Crockford's misreadings: 0, 1, 1
    _DECODE[_char] = _DECODE[_char | 0x20] = _value if _value < 32 else (0, 1, 1)[_value - 32]
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def identifier_digests(code: CodeKey, field: int, values: Sequence[str | None]) -> Bytes:
    """The keyed digest each pseudonym encrypts (zeros for a null): BLAKE2b over the column's
    field index and the identifier, so equal values in two identifier columns differ."""
    keyed = hashlib.blake2b(key=code.identifier, digest_size=DIGEST_BYTES)
    keyed.update(field.to_bytes(2, "big"))
    out = bytearray()
    for value in values:
        if value is None:
            out += bytes(DIGEST_BYTES)
        else:
            digest = keyed.copy()
            digest.update(value.encode())
            out += digest.digest()
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(-1, DIGEST_BYTES)


def encode(grant: GrantKey, digests: Bytes) -> Bytes:
    """Pseudonyms of the digests under `grant`, as an n x 30 array of ASCII bytes."""
    blocks = np.zeros((len(digests), 16), dtype=np.uint8)
    blocks[:, :DIGEST_BYTES] = digests
    cipher = encrypt_blocks(grant.pseudonym, blocks)
    bits = np.zeros((len(digests), 5 * BLOCK_CHARS), dtype=np.uint8)
    bits[:, 2:] = np.unpackbits(cipher, axis=1)
    chars = np.frombuffer(ALPHABET, dtype=np.uint8)[
        bits.reshape(len(digests), BLOCK_CHARS, 5) @ _FIVE_BITS
    ]
    head = PREFIX + bytes(ALPHABET[grant.tag >> (5 * i) & 31] for i in reversed(range(TAG_CHARS)))
    out = np.empty((len(digests), LENGTH), dtype=np.uint8)
    out[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    out[:, len(head) :] = chars
    return out


@dataclass(frozen=True)
class Decoded:
    """Distinct pseudonym-shaped values: tag and cipher block of each."""

    tags: npt.NDArray[np.int64]
    blocks: Bytes
    values: tuple[str, ...]  # as read (normalised), in the order of tags and blocks


def decode(values: Iterable[str | None]) -> Decoded:
    """The distinct values that have a pseudonym's shape; other values are left out. Two
    spellings of one pseudonym (case, Crockford's O for 0) are two values with one block."""
    shaped = sorted(
        {
            v
            for v in (_normalise(value) for value in values if value is not None)
            if len(v) == LENGTH and v[:1] in ("P", "p") and v.isascii()
        }
    )
    raw = np.frombuffer("".join(shaped).encode(), dtype=np.uint8).reshape(-1, LENGTH)
    read = _DECODE[raw[:, len(PREFIX) :]]
    ok = (read >= 0).all(axis=1) & (read[:, TAG_CHARS] < 8)  # two leading zero bits
    digits = read[ok].astype(np.uint8)
    tags = (digits[:, :TAG_CHARS].astype(np.int64) * np.array([1024, 32, 1])).sum(axis=1)
    bits = np.unpackbits(digits[:, TAG_CHARS:, None], axis=2)[:, :, 3:]
    bits = bits.reshape(len(digits), 5 * BLOCK_CHARS)
    blocks = np.packbits(bits[:, 2:], axis=1)
    kept = tuple(v for v, good in zip(shaped, ok.tolist(), strict=True) if good)
    return Decoded(tags, blocks, kept)


def open_blocks(grant: GrantKey, blocks: Bytes) -> tuple[npt.NDArray[np.bool_], Bytes]:
    """Which blocks are valid pseudonyms under `grant`, and the digest each decrypts to."""
    plain = decrypt_blocks(grant.pseudonym, blocks)
    valid = np.asarray(~plain[:, DIGEST_BYTES:].any(axis=1), dtype=np.bool_)
    return valid, plain[:, :DIGEST_BYTES]


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()
