"""The owner's kept preimages of delivery commitments, beside the dataset's secret: each grant's
come back once each, in the order kept; a line cut short by a crash is left out; a damaged
line is named."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cityledger.fingerprint.commitment import DeliveryCommitment, KeptCommitments
from cityledger.fingerprint.errors import FingerprintError
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.testnet.demo_data import DATASET, SCHEMA

KEYS = DatasetKeys(DATASET, bytes(range(32)))
GRANT, OTHER = "0x" + "01" * 32, "0x" + "02" * 32


def commitment(grant: str, rows: int) -> DeliveryCommitment:
    return DeliveryCommitment.of(
        KEYS, grant, SCHEMA, file_hash="0x" + f"{rows:064x}", rows=rows, columns=["id_hash"]
    )


def test_each_grants_commitments_come_back_once_in_the_order_kept(tmp_path: Path) -> None:
    kept = KeptCommitments(tmp_path / "travel.secret")
    assert kept.path == tmp_path / "travel.secret.commitments.jsonl"
    assert kept.of_grant(GRANT) == []
    for made in (commitment(GRANT, 10), commitment(OTHER, 11), commitment(GRANT, 12)):
        kept.keep(made)
    kept.keep(commitment(GRANT, 10))  # the same copy delivered twice
    assert kept.of_grant(GRANT) == [commitment(GRANT, 10), commitment(GRANT, 12)]
    assert [c.rows for c in kept.of_grant(OTHER)] == [11]
    assert stat.S_IMODE(kept.path.stat().st_mode) == 0o600


def test_a_line_cut_short_is_left_out_and_a_damaged_one_is_named(tmp_path: Path) -> None:
    kept = KeptCommitments(tmp_path / "travel.secret")
    kept.keep(commitment(GRANT, 10))
    whole = commitment(GRANT, 12).canonical_json()
    with kept.path.open("a") as file:
        file.write(whole[: len(whole) // 2])
    assert kept.of_grant(GRANT) == [commitment(GRANT, 10)]

    kept.path.write_text(commitment(GRANT, 10).canonical_json() + "\n{not json}\n")
    with pytest.raises(FingerprintError, match=r"commitments.jsonl:2"):
        kept.of_grant(GRANT)
