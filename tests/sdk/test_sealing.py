"""Deliveries sealed to the grantee (ECIES over secp256k1, chunked AES-256-GCM): only the
grantee's key opens them, and a file altered, cut short or extended does not open."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from eth_keys import keys

from cityledger.sdk.sealing import CHUNK, MAGIC, SealError, open_sealed, seal
from cityledger.sdk.signers import Signer

GRANTEE = Signer.from_key(b"\x05" * 32)
PUBLIC = keys.PrivateKey(GRANTEE.private_key).public_key.to_bytes()


def _sealed(tmp_path: Path, data: bytes) -> bytes:
    plain, sealed = tmp_path / "plain", tmp_path / "sealed"
    plain.write_bytes(data)
    seal(plain, sealed, PUBLIC)
    return sealed.read_bytes()


def _open(sealed: bytes, private_key: bytes = GRANTEE.private_key) -> bytes:
    out = io.BytesIO()
    open_sealed(io.BytesIO(sealed), out, private_key)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_the_grantee_opens_what_was_sealed_to_it(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    assert _open(_sealed(tmp_path, data)) == data


def test_nobody_else_opens_it(tmp_path: Path) -> None:
    sealed = _sealed(tmp_path, b"trajectory rows")
    assert b"trajectory" not in sealed
    with pytest.raises(SealError, match="wrong key"):
        _open(sealed, Signer.from_key(b"\x06" * 32).private_key)


def test_a_file_cut_at_a_chunk_boundary_does_not_open(tmp_path: Path) -> None:
    sealed = _sealed(tmp_path, b"x" * (2 * CHUNK + 5))
    first_chunk_end = len(MAGIC) + 33 + 4 + CHUNK + 16
    with pytest.raises(SealError, match="cut short"):
        _open(sealed[:first_chunk_end])


@pytest.mark.parametrize("where", [len(MAGIC) + 40, -1])
def test_an_altered_byte_does_not_open(tmp_path: Path, where: int) -> None:
    sealed = bytearray(_sealed(tmp_path, b"y" * 1000))
    sealed[where] ^= 1
    with pytest.raises(SealError):
        _open(bytes(sealed))


def test_data_after_the_final_chunk_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="follows"):
        _open(_sealed(tmp_path, b"z" * 10) + b"extra")


def test_not_a_sealed_file() -> None:
    with pytest.raises(SealError, match="not a sealed"):
        _open(b"id_hash,visit_time\n")
