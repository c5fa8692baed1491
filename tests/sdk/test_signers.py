"""Keys: encrypted V3 keystores (scrypt) round-trip, refuse a wrong passphrase and never
overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cityledger.sdk.signers import (
    KeystoreError,
    Signer,
    keystore_address,
    load_keystore,
    save_keystore,
)

CHEAP_SCRYPT_N = 1 << 10


def test_keystore_round_trip(tmp_path: Path) -> None:
    signer = Signer.generate()
    path = save_keystore(signer, tmp_path / "keys" / "a.json", "s3cret", CHEAP_SCRYPT_N)
    data = json.loads(path.read_text())
    assert data["version"] == 3 and data["crypto"]["kdf"] == "scrypt"
    assert signer.private_key.hex() not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0
    assert keystore_address(path) == signer.address
    assert load_keystore(path, "s3cret").private_key == signer.private_key


def test_wrong_passphrase_and_overwrite_refused(tmp_path: Path) -> None:
    path = save_keystore(Signer.generate(), tmp_path / "a.json", "right", CHEAP_SCRYPT_N)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load_keystore(path, "wrong")
    with pytest.raises(FileExistsError):
        save_keystore(Signer.generate(), path, "right", CHEAP_SCRYPT_N)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(KeystoreError):
        load_keystore(tmp_path / "junk.json", "right")
