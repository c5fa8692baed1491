"""Keyed row omission (after Papadimitriou and Garcia-Molina, TKDE 2011): each grant's copies
leave out the rows whose omission word falls below the threshold, about 1 % of the dataset.

It survives every rewriting of values. Whoever did not make a leaked file has an omission set
independent of it, so the number of leaked rows inside that set is exactly Binomial(N, rate);
the grant whose copy the rows came from has none there, and few is evidence for it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cityledger.fingerprint.keys import GrantKey
from cityledger.fingerprint.prf import Bytes, row_words
from cityledger.fingerprint.scheme import PARAMETERS, Parameters


def omitted(
    grant: GrantKey, digests: Bytes, params: Parameters = PARAMETERS
) -> npt.NDArray[np.bool_]:
    """Which rows (by digest) the grant's copies leave out."""
    return row_words(grant.omission, digests, 0)[:, 0] < params.omission_threshold
