"""Power analysis for paired eval comparisons: how many cases a suite needs (``pilothouse eval plan``).

Both designs are paired (the same cases run on baseline and candidate), matching ``stats.compare``.

Pass/fail (McNemar), Connor (1987), Biometrics 43:207-211::

    n = ( z(1-a/2) * sqrt(psi) + z(1-b) * sqrt(psi - delta^2) )^2 / delta^2

with ``delta`` the change in pass rate and ``psi`` the share of discordant cases (pass on one side,
fail on the other). ``psi`` is at least ``|delta|``; unknown, it defaults to the value for outcomes
independent within a case, ``p1 (1 - p2) + p2 (1 - p1)``, which over-estimates (real runs agree on
easy and hard cases), so the default plan errs on the side of more cases. Because the exact test is
conservative, the formula's ``n`` is then raised until the exact power (enumerated over the number of
discordant pairs) reaches the target.

Continuous scores (paired t approximation; ``stats`` uses a randomization test with nearly the same
power for a mean difference)::

    n = ( (t(1-a/2, n-1) + t(1-b, n-1)) * sd_diff / delta )^2       iterated from the normal n

with ``sd_diff`` the SD of per-case differences: given directly, or ``sd * sqrt(2 (1 - rho))`` from
the score SD and the correlation between sides, plus ``2 within_sd^2 / repeats`` for sampling noise
(repeats shrink only this part, which is why adding cases beats adding repeats past a point).

Testing several scorers: pass ``tests=k`` to plan at ``alpha / k`` (Bonferroni, the first step of Holm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pilothouse.evals.stats_math import t_ppf, t_two_sided_p, z_ppf

# Above this many cases the normal approximation is accurate and exact enumeration gets slow.
_EXACT_MAX_CASES = 5000


@dataclass(frozen=True)
class Plan:
    cases: int
    power: float  # power at ``cases`` (exact for McNemar, t approximation for means)
    alpha: float  # per-test alpha after dividing by the number of tests
    method: str
    notes: list[str]


def _log_binom_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _critical(discordant: int, alpha: float) -> int:
    """Largest c with 2 P(Bin(D, 1/2) <= c) < alpha (-1 when even 0 is not significant)."""
    c, cdf = -1, 0.0
    while True:
        cdf += math.exp(_log_binom_pmf(c + 1, discordant, 0.5))
        if 2.0 * cdf >= alpha or c + 1 > discordant // 2:
            return c
        c += 1


def mcnemar_power(
    n: int, delta: float, psi: float, alpha: float, _reject: dict[int, float] | None = None
) -> float:
    """Exact power of the two-sided exact McNemar test with ``n`` cases.

    Power = sum over D discordant pairs of P(D | n, psi) * P(reject | D). The second factor does not
    depend on ``n``; ``_reject`` caches it across the calls of a search over ``n``."""
    reject = {} if _reject is None else _reject
    wins = (psi + delta) / (2.0 * psi)  # share of discordant cases the candidate wins
    mean, sd = n * psi, math.sqrt(n * psi * (1.0 - psi))
    lo, hi = max(0, int(mean - 9 * sd) - 1), min(n, int(mean + 9 * sd) + 2)
    power = 0.0
    for d in range(lo, hi + 1):
        if d not in reject:
            c = _critical(d, alpha)
            tail = 0.0
            if c >= 0:
                tail = sum(math.exp(_log_binom_pmf(x, d, wins)) for x in range(c + 1))
                tail += sum(math.exp(_log_binom_pmf(x, d, wins)) for x in range(d - c, d + 1))
            reject[d] = tail
        power += math.exp(_log_binom_pmf(d, n, psi)) * reject[d]
    return min(1.0, power)


def plan_pass_rate(
    baseline: float,
    candidate: float,
    *,
    discordant: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    tests: int = 1,
) -> Plan:
    """Cases needed to detect a change in pass rate from ``baseline`` to ``candidate``."""
    if not (0.0 <= baseline <= 1.0 and 0.0 <= candidate <= 1.0) or baseline == candidate:
        raise ValueError("pass rates must be in [0, 1] and differ")
    delta = candidate - baseline
    notes = []
    if discordant is None:
        discordant = baseline * (1 - candidate) + candidate * (1 - baseline)
        notes.append(
            f"discordant share assumed {discordant:.3f} (independent outcomes; real runs need fewer)"
        )
    if not abs(delta) <= discordant <= 1.0:
        raise ValueError(f"discordant share must be between |change| = {abs(delta):.3f} and 1")
    a = alpha / tests
    za, zb = z_ppf(1 - a / 2), z_ppf(power)
    n = math.ceil((za * math.sqrt(discordant) + zb * math.sqrt(discordant - delta**2)) ** 2 / delta**2)
    formula_n = n
    if n > _EXACT_MAX_CASES:
        achieved = power
        notes.append(f"Connor's formula gives {n} (normal approximation, accurate at this size)")
        return Plan(n, achieved, a, "McNemar, normal approximation (paired pass/fail)", notes)
    cache: dict[int, float] = {}
    achieved = mcnemar_power(n, delta, discordant, a, cache)
    # The exact test's power saw-tooths with n; take the first n from the formula up that reaches it.
    while achieved < power and n < 2 * formula_n + 50:
        n += 1
        achieved = mcnemar_power(n, delta, discordant, a, cache)
    notes.append(f"Connor's formula gives {formula_n}; exact power at {n} cases is {achieved:.3f}")
    return Plan(n, achieved, a, "exact McNemar (paired pass/fail)", notes)


def paired_sd(sd: float, correlation: float, within_sd: float = 0.0, repeats: int = 1) -> float:
    """SD of per-case differences from the score SD, the correlation of sides and repeat noise."""
    between = sd * sd * 2.0 * (1.0 - correlation)
    return math.sqrt(between + 2.0 * within_sd * within_sd / repeats)


def plan_mean(
    delta: float, sd_diff: float, *, alpha: float = 0.05, power: float = 0.8, tests: int = 1
) -> Plan:
    """Cases needed to detect a change ``delta`` in a mean score whose per-case differences have SD
    ``sd_diff`` (see ``paired_sd``)."""
    if delta == 0 or sd_diff <= 0:
        raise ValueError("the change must be non-zero and the SD positive")
    a = alpha / tests
    effect = abs(delta) / sd_diff
    n = max(2, math.ceil(((z_ppf(1 - a / 2) + z_ppf(power)) / effect) ** 2))
    for _ in range(50):  # fixed point of the t version; converges in a few steps
        nxt = max(2, math.ceil(((t_ppf(1 - a / 2, n - 1) + t_ppf(power, n - 1)) / effect) ** 2))
        if nxt == n:
            break
        n = nxt
    # Achieved power by the shifted-t approximation the formula inverts.
    achieved = _t_power(n, effect, a)
    notes = [f"standardized effect {effect:.3f} (change / SD of paired differences)"]
    return Plan(n, achieved, a, "paired t approximation (continuous scores)", notes)


def _t_power(n: int, effect: float, alpha: float) -> float:
    shift = effect * math.sqrt(n)
    crit = t_ppf(1 - alpha / 2, n - 1)
    # P(T + shift > crit) with T ~ t(n - 1): one tail of the (approximate) non-central t.
    one_tail = t_two_sided_p(crit - shift, n - 1) / 2.0
    return 1.0 - one_tail if crit - shift < 0 else one_tail
