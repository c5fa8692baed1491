"""Pseudonyms: what a grant's key writes, only that key opens; read back however a person or a
spreadsheet may have retyped them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityledger.fingerprint import pseudonyms
from cityledger.fingerprint.keys import DatasetKeys
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
