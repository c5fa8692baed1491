"""Tail bounds against exact enumeration: the binomial tails are exact, the Chernoff bound of a
sum of two-point variables is never below the true tail."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from cityledger.fingerprint.bounds import TwoPointSum, binomial_log_cdf, binomial_log_sf

probabilities = st.floats(1e-6, 1 - 1e-6)


def exact_pmf(n: int, p: float) -> list[Fraction]:
    q = Fraction(p)
    return [math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(n + 1)]


@given(st.integers(1, 80), st.data(), probabilities)
def test_binomial_tails_are_exact(n: int, data: st.DataObject, p: float) -> None:
    k = data.draw(st.integers(0, n))
    pmf = exact_pmf(n, p)
    upper, lower = float(sum(pmf[k:])), float(sum(pmf[: k + 1]))
    assert math.isclose(math.exp(binomial_log_sf(n, k, p)), upper, rel_tol=1e-9, abs_tol=1e-300)
    assert math.isclose(math.exp(binomial_log_cdf(n, p, n)[k]), lower, rel_tol=1e-9, abs_tol=1e-300)


def test_binomial_tails_reach_far_below_floating_point() -> None:
    assert binomial_log_sf(5000, 1000, 2**-32) / math.log(10) < -3000
    assert binomial_log_cdf(5000, 0.01, 0)[0] == 5000 * math.log1p(-0.01)
    assert binomial_log_sf(10, 11, 0.5) == -math.inf


@given(
    st.lists(
        st.tuples(st.floats(-10, 10), st.floats(-10, 10), probabilities), min_size=1, max_size=10
    ),
    st.floats(-20, 60),
)
def test_the_chernoff_bound_is_never_below_the_true_tail(
    variables: list[tuple[float, float, float]], s: float
) -> None:
    a, b, q = (np.array(v, dtype=np.float64) for v in zip(*variables, strict=True))
    exact = 0.0
    for picks in itertools.product((True, False), repeat=len(variables)):
        chosen = np.array(picks)
        if np.where(chosen, a, b).sum() >= s:
            exact += float(np.prod(np.where(chosen, q, 1 - q)))
    bound = math.exp(float(TwoPointSum(a, b, q).log_sf(np.array([s]))[0]))
    assert bound >= exact * (1 - 1e-9)
