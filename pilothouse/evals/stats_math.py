"""Statistical primitives for eval comparisons: pure functions, no I/O, no harness types.

Kept apart from ``stats.py`` (the data shapes and the comparison) so each primitive can be tested
against textbook values on its own. scipy is deliberately not a dependency: the few distributions we
need are short and exact here.

- Student's t: the regularized incomplete beta function (Lentz continued fraction, as in Numerical
  Recipes §6.4) gives the tail; the quantile is found by bisection.
- Binomial: exact two-sided McNemar p-value from ``math.comb`` (a sign test on the discordant pairs).
- Intervals: Wilson score (proportions), t (means), percentile paired bootstrap (mean differences).
- Tests: paired sign-flip randomization (continuous), exact McNemar (pass/fail).
- Multiplicity: Holm (family-wise error) and Benjamini-Hochberg (false discovery rate).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Correction = Literal["holm", "bh", "none"]

# Resampling is done in blocks so memory stays bounded (~16 MB) however many cases a suite has.
_BLOCK_CELLS = 2_000_000
# Up to 2**12 = 4,096 sign patterns the randomization test is enumerated exactly instead of sampled.
_EXACT_SIGN_FLIP_MAX_N = 12


# --- Student's t ----------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast only on one side of the mean; use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t (e.g. ``t_ppf(0.975, 10) == 2.2281...``), by bisection on the tail."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    if q == 0.5:
        return 0.0
    target = 2.0 * (1.0 - q)
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * (1.0 + hi):
            break
    return (lo + hi) / 2.0


def z_ppf(q: float) -> float:
    """Standard normal quantile."""
    return NormalDist().inv_cdf(q)


# --- Intervals ------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sane at 0/n and n/n, where the Wald interval collapses."""
    if n == 0:
        return (math.nan, math.nan)
    z = z_ppf(0.5 + confidence / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def t_interval(values: Sequence[float] | FloatArray, confidence: float = 0.95) -> tuple[float, float]:
    """t interval for a mean (the case is the unit: pass per-case means, not raw repeats)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return (math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return (math.nan, math.nan)
    half = t_ppf(0.5 + confidence / 2.0, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return (mean - half, mean + half)


def bootstrap_mean_ci(
    diffs: Sequence[float] | FloatArray,
    rng: np.random.Generator,
    confidence: float = 0.95,
    resamples: int = 2000,
) -> tuple[float, float]:
    """Percentile interval of the mean from ``resamples`` case-level bootstrap resamples.

    For a paired comparison pass the per-case differences: resampling differences resamples whole
    cases, which keeps each case's baseline and candidate scores together (the pairing)."""
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    if n < 2:
        return (math.nan, math.nan)
    means = np.empty(resamples, dtype=np.float64)
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        idx = rng.integers(0, n, size=(rows, n))
        means[start : start + rows] = d[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return (float(lo), float(hi))


# --- Tests ----------------------------------------------------------------------------------------


def mcnemar_exact_p(losses: int, wins: int) -> float:
    """Exact two-sided McNemar test on the discordant pairs.

    ``losses``: cases the baseline passed and the candidate failed; ``wins``: the reverse. Under no
    change each discordant pair is a fair coin, so the p-value is a two-sided binomial(n, 1/2) tail:
    ``min(1, 2 * P(X <= min(losses, wins)))``. Concordant pairs carry no information and are ignored.
    """
    n = losses + wins
    if n == 0:
        return 1.0
    k = min(losses, wins)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def sign_flip_p(
    diffs: Sequence[float] | FloatArray, rng: np.random.Generator, permutations: int = 10_000
) -> float:
    """Two-sided paired randomization test of a zero mean difference.

    Under "no change" the labels baseline/candidate are exchangeable within a case, so each difference
    is equally likely to carry either sign. The p-value counts sign patterns whose mean is at least as
    extreme as the observed one (exactly for up to 12 cases, else sampled with the observed pattern
    counted in, so p is never 0). Unlike a t-test it needs no normality of bounded, lumpy scores.
    """
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    if n == 0:
        return 1.0
    observed = abs(float(d.mean()))
    # Differences within float noise of the observed value count as "as extreme" (ties are common).
    eps = 1e-12 * max(1.0, observed)
    if n <= _EXACT_SIGN_FLIP_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)), dtype=np.float64)
        return float(np.mean(np.abs(signs @ d) / n >= observed - eps))
    extreme = 0
    block = max(1, _BLOCK_CELLS // n)
    for start in range(0, permutations, block):
        rows = min(block, permutations - start)
        signs = rng.integers(0, 2, size=(rows, n)).astype(np.float64) * 2.0 - 1.0
        extreme += int(np.count_nonzero(np.abs(signs @ d) / n >= observed - eps))
    return (extreme + 1) / (permutations + 1)


# --- Multiplicity ---------------------------------------------------------------------------------


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: family-wise error control under any dependence."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (q-values): false discovery rate control."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for back, i in enumerate(order):
        rank = m - back  # 1-based rank in ascending order
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = running
    return adjusted


def adjust(pvalues: Sequence[float], method: Correction) -> list[float]:
    """Adjusted p-values by name (``none`` returns them unchanged)."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    return list(pvalues)
