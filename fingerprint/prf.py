"""Keyed pseudo-random words for many inputs at once: AES-128 in ECB mode over numpy arrays of
16-byte blocks. Every keyed choice of the scheme (cells' biases, grants' bits, omitted rows) is
a 32-bit word of such a block compared with an integer threshold.

ECB is right here and only here: each block is a distinct PRF input (a row digest and a block
number), never a message to hide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Bytes = npt.NDArray[np.uint8]
Words = npt.NDArray[np.uint32]

DIGEST_BYTES = 15  # a row digest; the 16th byte of a PRF input numbers the block


def encrypt_blocks(key: bytes, blocks: Bytes) -> Bytes:
    """AES_key of each row of an n x 16 byte array."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(np.ascontiguousarray(blocks).tobytes()) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, 16)


def decrypt_blocks(key: bytes, blocks: Bytes) -> Bytes:
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()
    out = decryptor.update(np.ascontiguousarray(blocks).tobytes()) + decryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, 16)


def row_words(key: bytes, digests: Bytes, block: int) -> Words:
    """Four 32-bit words per row: AES_key(row digest || block), as an n x 4 array."""
    inputs = np.empty((len(digests), 16), dtype=np.uint8)
    inputs[:, :DIGEST_BYTES] = digests
    inputs[:, DIGEST_BYTES] = block
    return encrypt_blocks(key, inputs).view("<u4").astype(np.uint32)


@dataclass(frozen=True)
class Cells:
    """Where each cell's word is: word slot % 4 of block slot // 4 of its row's PRF output.
    Worked out once, so that many keys' words for the same cells cost one AES pass each."""

    blocks: tuple[int, ...]  # the block numbers needed
    flat: npt.NDArray[np.intp]  # each cell's index into those blocks' words, concatenated

    @classmethod
    def of(cls, rows: npt.NDArray[np.intp], slots: npt.NDArray[np.intp], row_count: int) -> Cells:
        blocks = tuple(int(b) for b in np.unique(slots // 4))
        place = np.searchsorted(np.array(blocks, dtype=np.intp), slots // 4)
        return cls(blocks, (place * row_count + rows) * 4 + slots % 4)


def cell_words(key: bytes, digests: Bytes, cells: Cells) -> Words:
    words = [row_words(key, digests, block).ravel() for block in cells.blocks]
    return np.concatenate(words)[cells.flat] if words else np.zeros(0, dtype=np.uint32)
