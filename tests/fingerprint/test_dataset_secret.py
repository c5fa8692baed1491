"""The dataset secret's encrypted file, and the keys derived from it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cityledger.fingerprint.errors import SecretFileError
from cityledger.fingerprint.keys import DatasetKeys, GrantKey
from cityledger.testnet.demo_data import DATASET

GRANT = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[DatasetKeys, Path]:
    keys = DatasetKeys.generate(DATASET)
    path = tmp_path_factory.mktemp("secret") / "travel.secret.json"
    keys.save(path, "correct horse")
    return keys, path


def test_the_secret_file_opens_with_its_passphrase_only(saved: tuple[DatasetKeys, Path]) -> None:
    keys, path = saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DatasetKeys.load(path, "correct horse") == keys
    assert keys.secret.hex() not in path.read_text()
    with pytest.raises(SecretFileError, match="wrong passphrase, or the file was altered"):
        DatasetKeys.load(path, "wrong horse")


def test_an_altered_or_corrupt_secret_file_is_refused(
    saved: tuple[DatasetKeys, Path], tmp_path: Path
) -> None:
    _, path = saved
    data = json.loads(path.read_text())
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps({**data, "dataset": "harbin/icu-bed-occupancy"}))
    with pytest.raises(SecretFileError, match="wrong passphrase, or the file was altered"):
        DatasetKeys.load(moved, "correct horse")
    greedy = tmp_path / "greedy.json"
    greedy.write_text(json.dumps({**data, "kdf": {**data["kdf"], "n": 1 << 30}}))
    with pytest.raises(SecretFileError, match="more memory than allowed"):
        DatasetKeys.load(greedy, "correct horse")
    for text in ("", "{}", "[]", '{"format": "cityledger-dataset-secret/1"}'):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(SecretFileError, match=r"bad\.json"):
            DatasetKeys.load(tmp_path / "bad.json", "correct horse")
    with pytest.raises(SecretFileError, match="no dataset secret file"):
        DatasetKeys.load(tmp_path / "absent.json", "correct horse")


def test_a_secret_file_is_never_silently_replaced(saved: tuple[DatasetKeys, Path]) -> None:
    keys, path = saved
    with pytest.raises(SecretFileError, match="never silently replaced"):
        DatasetKeys.generate(DATASET).save(path, "other")
    assert DatasetKeys.load(path, "correct horse") == keys


def test_grant_keys_are_fixed_by_secret_dataset_and_grant() -> None:
    keys = DatasetKeys(DATASET, bytes(32))
    other_grant = "0x" + "cd" * 32
    assert keys.grant(GRANT) == DatasetKeys(DATASET, bytes(32)).grant(
        GRANT.upper().replace("0X", "0x")
    )
    derived = {
        keys.grant(GRANT).key,
        keys.grant(other_grant).key,
        DatasetKeys("harbin/icu-bed-occupancy", bytes(32)).grant(GRANT).key,
        DatasetKeys(DATASET, bytes([1]) * 32).grant(GRANT).key,
    }
    assert len(derived) == 4
    grant = keys.grant(GRANT)
    subkeys = {grant.pseudonym, grant.code, grant.omission}
    assert len(subkeys) == 3 and grant.key not in subkeys
    assert 0 <= grant.tag < 1 << 15
    assert GrantKey.from_hex(GRANT, "0x" + grant.key.hex()) == grant
    assert grant.commitment != keys.grant(other_grant).commitment
    with pytest.raises(SecretFileError, match="32 bytes"):
        GrantKey.from_hex(GRANT, "0x1234")
