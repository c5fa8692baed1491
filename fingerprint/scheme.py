"""The marking scheme's name, version and fixed parameters: what a delivery commitment records,
so that a finding can be re-checked with exactly the rules the copy was marked by."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

NAME = "cityledger-fp"
VERSION = 1
# The on-chain `method` label of a delivery or a finding (bytes32: at most 32 ASCII bytes).
METHOD = f"{NAME}/{VERSION}"
# Domain separation for every key derivation and hash of the scheme.
DOMAIN = METHOD.encode()
CHANNELS = ("pseudonyms", "tardos", "omission")
# 32-bit PRF words are compared with integer thresholds, so every probability the scoring uses
# is an exact multiple of 2^-32.
WORD = 1 << 32


@dataclass(frozen=True)
class Parameters:
    # Each copy leaves out the rows whose omission word falls below this threshold (~1 %).
    omission_threshold: int = round(0.01 * WORD)
    # Tardos biases follow the arcsine density on [cutoff, 1 - cutoff].
    bias_cutoff: float = 0.01
    # A marked numeric or time cell moves by this fraction of its column's precision, up or down.
    offset: Decimal = Decimal("0.4")
    # A leaked value at least this far (in precisions) from its original, on one side, reads as
    # that side's symbol; nearer reads as erased. Values further than `tolerance` do not match.
    symbol_threshold: float = 0.2
    tolerance: float = 0.75
    # Pseudonyms: a decrypted block is valid when its last `check_bytes` bytes are zero.
    check_bytes: int = 4

    @property
    def omission_rate(self) -> float:
        return self.omission_threshold / WORD

    @property
    def forgery_probability(self) -> float:
        """Chance that a value not made with a grant's key passes as its pseudonym."""
        return float(2 ** (-8 * self.check_bytes))

    def to_json_object(self) -> dict[str, Any]:
        return {
            "omissionThreshold": self.omission_threshold,
            "biasCutoff": self.bias_cutoff,
            "offset": str(self.offset),
            "symbolThreshold": self.symbol_threshold,
            "tolerance": self.tolerance,
            "checkBytes": self.check_bytes,
        }


PARAMETERS = Parameters()
