"""The p-values are bounds: over 100,000 keys that never marked anything, each channel's p-value
falls below alpha for at most a fraction alpha of them, at every alpha tried."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fingerprint_helpers import World, write_csv

from cityledger.fingerprint.keys import GrantKey
from cityledger.fingerprint.reading import read_leak
from cityledger.fingerprint.scoring import CandidateGrant, observe, score
from cityledger.testnet.demo_data import collude

INNOCENTS = 100_000
ALPHAS = (0.5, 0.1, 0.01, 1e-3, 1e-4)


@pytest.mark.slow
def test_innocent_p_values_are_no_smaller_than_the_bound(world: World, tmp_path: Path) -> None:
    # A leak with every channel present: two colluders' rows, ids kept, 500 rows (1,500 cells).
    leak = collude([world.copy(1), world.copy(2)], 500, seed=9, by="rows")
    path = write_csv(leak, tmp_path / "leak.csv")
    observations = observe(read_leak(path), world.reference, [])
    assert len(observations.cells.row) > 1_000 and observations.pseudonyms
    rng = np.random.default_rng(10)
    scope = world.candidates[0].fields
    innocents = [
        (CandidateGrant(f"0x{n:064x}", "innocent", scope), GrantKey(f"0x{n:064x}", rng.bytes(32)))
        for n in range(INNOCENTS)
    ]
    results = score(observations, innocents, family=1)
    for channel in ("pseudonyms", "tardos", "omission"):
        log_p = np.array([r.channels[channel].log_p for r in results])
        for alpha in ALPHAS:
            assert (log_p <= np.log(alpha)).mean() <= alpha, (channel, alpha)
    # Not vacuous: the Tardos bound is within an order of magnitude of the truth.
    tardos = np.array([r.channels["tardos"].log_p for r in results])
    assert (tardos <= np.log(0.01)).mean() >= 0.001
