"""The Tardos code on numeric and time cells, with symmetric scoring (Tardos 2003/2008; Skoric,
Katzenbeisser and Celik, IEEE TIT 2008).

Every cell of a markable numeric or time column is a code position; a cell is (row digest, slot),
the slot being the column's place among the schema's markable numeric and time columns, so all
copies are marked in the same cells. The code key draws each cell's bias p from the arcsine
density on [t, 1 - t]; a grant's bit there is 1 when its PRF word is below p (p is an exact
multiple of 2^-32: a threshold T). Bit 1 moves the value up by 0.4 of the column's precision,
bit 0 down by as much; a leaked value read against its original gives the symbol y (or nothing,
when rounded or smoothed back to the original).

A grant's score sums, over the cells it received, sqrt((1-p)/p) for y = x = 1, sqrt(p/(1-p))
for y = x = 0, and the negatives of the other of the two for x != y. Whoever did not make the
file has bits independent of it, so its score is a sum of independent two-point variables of
known law: bounds.TwoPointSum gives a rigorous p-value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cityledger.fingerprint.bounds import TwoPointSum
from cityledger.fingerprint.keys import CodeKey, GrantKey
from cityledger.fingerprint.prf import Bytes, Cells, cell_words
from cityledger.fingerprint.scheme import PARAMETERS, WORD, Parameters
from cityledger.sdk.schema import ColumnKind, DatasetSchema

Floats = npt.NDArray[np.float64]
Thresholds = npt.NDArray[np.uint32]
ERASED = -1  # a symbol that could not be read


def slots(schema: DatasetSchema) -> dict[str, int]:
    """Each markable numeric or time column's slot: its place among them, in schema order."""
    coded = [
        c.name
        for c in schema.columns
        if c.markable and c.kind in (ColumnKind.NUMERIC, ColumnKind.TIMESTAMP)
    ]
    return {name: slot for slot, name in enumerate(coded)}


def thresholds(
    code: CodeKey, digests: Bytes, cells: Cells, params: Parameters = PARAMETERS
) -> Thresholds:
    """Each cell's bias as a threshold T (P(bit = 1) = T / 2^32), from the code key."""
    words = cell_words(code.bias, digests, cells)
    low = math.asin(math.sqrt(params.bias_cutoff))
    angle = low + (math.pi / 2 - 2 * low) * (words + 0.5) / WORD
    return np.asarray(np.clip(np.rint(np.sin(angle) ** 2 * WORD), 1, WORD - 1), dtype=np.uint32)


def bits(
    grant: GrantKey, digests: Bytes, cells: Cells, limits: Thresholds
) -> npt.NDArray[np.bool_]:
    """The grant's code bit in each cell."""
    return cell_words(grant.code, digests, cells) < limits


def symbols(
    leaked: Floats, original: Floats, precision: float, params: Parameters = PARAMETERS
) -> npt.NDArray[np.int8]:
    """1 where the leaked value sits above its original, 0 below, ERASED where it is within
    `symbol_threshold` precisions of it (rounded back), beyond `tolerance`, or missing."""
    with np.errstate(invalid="ignore"):
        shift = (leaked - original) / precision
        readable = (np.abs(shift) >= params.symbol_threshold) & (np.abs(shift) <= params.tolerance)
    return np.where(readable, (shift > 0).astype(np.int8), np.int8(ERASED)).astype(np.int8)


@dataclass(frozen=True)
class SymmetricScore:
    """The score of any bit vector on a set of read cells, and the law of an innocent's score."""

    base: float  # the score of all bits 0
    gain: Floats  # each cell's term(bit 1) - term(bit 0)
    innocent: TwoPointSum

    @classmethod
    def of(cls, limits: Thresholds, read: npt.NDArray[np.int8]) -> SymmetricScore:
        p = limits.astype(np.float64) / WORD
        ratio = np.sqrt((1 - p) / p)
        one = np.where(read == 1, ratio, -ratio)  # the term when the bit is 1
        zero = np.where(read == 1, -1 / ratio, 1 / ratio)  # ... and when it is 0
        return cls(float(zero.sum()), one - zero, TwoPointSum(one, zero, p))

    def score(self, bits: npt.NDArray[np.bool_]) -> float:
        return self.base + float(self.gain[bits].sum())

    def log_p_values(self, scores: Floats) -> Floats:
        return self.innocent.log_sf(scores)
