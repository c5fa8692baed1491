"""Pseudonyms: what a grant's key writes, only that key opens; read back however a person or a
spreadsheet may have retyped them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityledger.fingerprint import pseudonyms
from cityledger.fingerprint.keys import DatasetKeys
from cityledger.fingerprint.scoring import (
    CandidateGrant,
    Cells,
    Observations,
    PseudonymColumn,
    score,
)
from cityledger.testnet.demo_data import DATASET

KEYS = DatasetKeys(DATASET, bytes(range(32)))
GRANT = KEYS.grant("0x" + "01" * 32)
OTHER = KEYS.grant("0x" + "02" * 32)


@given(st.lists(st.binary(min_size=12, max_size=12), min_size=1, max_size=50, unique=True))
def test_a_pseudonym_opens_to_its_digest_under_its_grant_only(digests: list[bytes]) -> None:
    raw = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 12)
    text = [row.tobytes().decode() for row in pseudonyms.encode(GRANT, raw)]
    assert all(len(t) == pseudonyms.LENGTH and t.startswith("P") for t in text)
    retyped = [
        t.lower() if i % 2 else t.replace("0", "O").replace("1", "l") for i, t in enumerate(text)
    ]
    for values in (text, retyped):
        decoded = pseudonyms.decode([None, "", "not one", *values])
        assert len(decoded.values) == len(set(values))
        assert set(decoded.tags.tolist()) == {GRANT.tag}
        valid, opened = pseudonyms.open_blocks(GRANT, decoded.blocks)
        assert valid.all()
        assert {o.tobytes() for o in opened} == set(digests)
        assert not pseudonyms.open_blocks(OTHER, decoded.blocks)[0].any()


def test_made_up_values_of_the_right_shape_do_not_open() -> None:
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(pseudonyms.ALPHABET, dtype=np.uint8)
    made_up = ["P" + bytes(alphabet[rng.integers(0, 32, 29)]).decode() for _ in range(20_000)]
    decoded = pseudonyms.decode(made_up)
    assert len(decoded.values) > 4_000  # those whose block fits in 128 bits
    assert not pseudonyms.open_blocks(GRANT, decoded.blocks)[0].any()


def test_one_pseudonym_spelt_twice_counts_once() -> None:
    """ "P0..." and "po...": one block, so one trial for the binomial tail, not two."""
    text = pseudonyms.encode(GRANT, np.zeros((1, 12), np.uint8))[0].tobytes().decode()
    spellings = [text, text.lower().replace("0", "o")]
    none = np.zeros(0, dtype=np.intp)
    observations = Observations(
        digests=np.zeros((0, 15), np.uint8),
        leaked_rows=none,
        cells=Cells(
            none, none, none, none, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.uint32)
        ),
        pseudonyms=(
            PseudonymColumn(0, 0, pseudonyms.decode(spellings)),
            PseudonymColumn(1, 0, pseudonyms.decode([text])),
        ),
        positions={},
    )
    (result,) = score(
        observations, [(CandidateGrant(GRANT.grant_id, "x", frozenset({0})), GRANT)], family=1
    )
    assert (
        result.channels["pseudonyms"].statistic,
        result.channels["pseudonyms"].observations,
    ) == (1, 1)
