"""Rigorous tail probabilities, in natural logarithms (evidence reaches far below float's range):
exact binomial tails, and a Chernoff bound with the exact moment-generating function for a sum
of independent two-point variables (an innocent grant's Tardos score). No normal approximation
anywhere: a bound here is never smaller than the probability it bounds."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
# Chernoff's bound holds for every lambda >= 0; the smallest over this grid is taken. Spacing by
# a factor 1.08 loses under 0.3 % of the exponent against the best lambda.
LAMBDAS = np.geomspace(1e-4, 25.0, 165)


def _log_terms(n: int, first: int, last: int, p: float) -> Floats:
    """ln P(X = i) for i in first..last, X ~ Binomial(n, p), 0 <= first <= last <= n."""
    i = np.arange(first, last, dtype=np.float64)
    ratios = np.log(n - i) - np.log(i + 1) + math.log(p) - math.log1p(-p)
    head = (
        math.lgamma(n + 1)
        - math.lgamma(first + 1)
        - math.lgamma(n - first + 1)
        + first * math.log(p)
        + (n - first) * math.log1p(-p)
    )
    return np.concatenate(([head], head + np.cumsum(ratios)))


def binomial_log_sf(n: int, k: int, p: float) -> float:
    """ln P(X >= k) for X ~ Binomial(n, p), 0 < p < 1."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    return min(0.0, float(np.logaddexp.reduce(_log_terms(n, k, n, p))))


def binomial_log_cdf(n: int, p: float, up_to: int) -> Floats:
    """ln P(X <= k) for every k in 0..up_to, X ~ Binomial(n, p), 0 < p < 1."""
    last = min(up_to, n)
    out = np.minimum(0.0, np.logaddexp.accumulate(_log_terms(n, 0, last, p)))
    return np.concatenate((out, np.zeros(up_to - last)))


class TwoPointSum:
    """S = sum of independent X_i, X_i = a_i with probability q_i, else b_i. `log_sf(s)` bounds
    ln P(S >= s) by min over lambda of ln E[exp(lambda S)] - lambda s (Chernoff), with the
    moment-generating function computed exactly from the a_i, b_i and q_i."""

    def __init__(self, a: Floats, b: Floats, q: Floats) -> None:
        log_q, log_not_q = np.log(q), np.log1p(-q)
        self.count = len(q)
        self.log_mgf = np.array(
            [float(np.logaddexp(log_q + lam * a, log_not_q + lam * b).sum()) for lam in LAMBDAS]
        )

    def log_sf(self, s: Floats) -> Floats:
        """The bound for each score in `s` (0 where it says nothing)."""
        exponents = self.log_mgf[None, :] - LAMBDAS[None, :] * np.asarray(s)[:, None]
        return np.asarray(np.minimum(0.0, exponents.min(axis=1)), dtype=np.float64)
