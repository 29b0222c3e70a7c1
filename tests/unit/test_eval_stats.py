"""Statistics primitives against textbook and hand-computed values."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from pilothouse.evals.stats import (
    CompareOptions,
    RunScores,
    ScorerSpec,
    Verdict,
    case_means,
    compare,
    within_case_noise,
)
from pilothouse.evals.stats_math import (
    benjamini_hochberg,
    betainc,
    bootstrap_mean_ci,
    holm,
    mcnemar_exact_p,
    sign_flip_p,
    t_interval,
    t_ppf,
    t_two_sided_p,
    wilson_interval,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("q", "df", "expected"),
    [
        (0.975, 1, 12.706204736),  # Student's t tables
        (0.975, 10, 2.228138852),
        (0.975, 29, 2.045229642),
        (0.95, 5, 2.015048373),
        (0.995, 120, 2.617421145),
        (0.8, 3, 0.978472312),
    ],
)
def test_t_quantiles_match_tables(q: float, df: int, expected: float) -> None:
    assert t_ppf(q, df) == pytest.approx(expected, rel=1e-8)
    assert t_ppf(1 - q, df) == pytest.approx(-expected, rel=1e-8)


def test_incomplete_beta_and_t_tail() -> None:
    assert betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # 1 - sum of Bin(4, 0.4) pmf at 0, 1
    assert betainc(1, 1, 0.3) == pytest.approx(0.3)
    assert t_two_sided_p(2.228138852, 10) == pytest.approx(0.05, rel=1e-7)
    assert t_two_sided_p(0.0, 7) == pytest.approx(1.0)


def test_wilson_interval_textbook_values() -> None:
    # 0 of 10: Wilson upper bound 0.2775 (Newcombe 1998, table I); 81 of 263: (0.2553, 0.3662).
    lo, hi = wilson_interval(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)


def test_t_interval_by_hand() -> None:
    lo, hi = t_interval([1.0, 2.0, 3.0, 4.0])  # mean 2.5, sd 1.29099, t(0.975, 3) = 3.182446
    half = 3.182446305 * 1.290994449 / 2
    assert (lo, hi) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-8)


@pytest.mark.parametrize(
    ("losses", "wins", "expected"),
    [
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (2, 8, 2 * (1 + 10 + 45) / 1024),
        (0, 6, 2 / 64),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (3, 0, 0.25),
    ],
)
def test_mcnemar_exact_by_hand(losses: int, wins: int, expected: float) -> None:
    assert mcnemar_exact_p(losses, wins) == pytest.approx(expected)
    assert mcnemar_exact_p(wins, losses) == pytest.approx(expected)


def test_holm_and_bh_known_vector() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted p*4/rank = 0.02, 0.02, 0.04, 0.04, cumulative minimum from the top
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == [] and benjamini_hochberg([]) == []


def test_sign_flip_is_exact_for_small_samples() -> None:
    rng = np.random.default_rng(0)
    assert sign_flip_p([1.0] * 6, rng) == pytest.approx(2 / 64)  # only all-plus and all-minus as extreme
    assert sign_flip_p([0.0] * 20, rng) == 1.0
    assert sign_flip_p([1.0, -1.0, 1.0, -1.0], rng) == 1.0


def test_sign_flip_sampled_p_is_never_zero() -> None:
    p = sign_flip_p([1.0] * 40, np.random.default_rng(0), permutations=999)
    assert p == pytest.approx(1 / 1000)


def test_bootstrap_interval_covers_the_mean_about_95_percent() -> None:
    """Coverage sanity: 300 samples of 60 from a skewed distribution with a known mean of 1."""
    rng = np.random.default_rng(42)
    covered = 0
    for _ in range(300):
        sample = rng.exponential(1.0, size=60)
        lo, hi = bootstrap_mean_ci(sample, rng, resamples=1000)
        covered += lo <= 1.0 <= hi
    assert 0.88 <= covered / 300 <= 0.98  # percentile bootstrap runs slightly short on skewed data


def test_repeats_are_averaged_per_case_and_noise_is_separate() -> None:
    scores = {"a": [0.0, 1.0], "b": [1.0, 1.0], "c": [0.5]}
    assert case_means(scores) == {"a": 0.5, "b": 1.0, "c": 0.5}
    noise = within_case_noise(scores)
    # pooled: ((0 - .5)^2 + (1 - .5)^2 + 0) / (1 + 1) = 0.25
    assert noise.within_sd == pytest.approx(0.5)
    assert noise.repeated_cases == 2 and noise.max_repeats == 2
    assert noise.between_sd == pytest.approx(float(np.std([0.5, 1.0, 0.5], ddof=1)))
    assert within_case_noise({"a": [1.0]}).within_sd is None


def test_case_is_the_unit_of_resampling() -> None:
    base = RunScores("a", {"s": {f"c{i}": [0.5] * 5 for i in range(8)}})
    cand = RunScores("b", {"s": {f"c{i}": [0.6, 0.7, 0.5, 0.6, 0.6] for i in range(8)}})
    row = compare(base, cand).rows[0]
    assert row.n == 8  # cases, not 40 values
    assert row.test == "sign-flip"
    assert row.p_value == pytest.approx(2 / 256)  # all 8 cases moved the same way: exact enumeration
    assert row.noise_se is not None and row.noise_se > 0


def _pair(base: list[float], cand: list[float], spec: ScorerSpec, **opts: object) -> Verdict:
    b = RunScores("b", {"s": {f"c{i}": [v] for i, v in enumerate(base)}})
    c = RunScores("c", {"s": {f"c{i}": [v] for i, v in enumerate(cand)}})
    return compare(b, c, {"s": spec}, CompareOptions(**opts)).rows[0].verdict  # type: ignore[arg-type]


def test_verdicts_respect_direction_and_tolerance() -> None:
    rng = random.Random(3)
    base = [0.8 + rng.gauss(0, 0.02) for _ in range(40)]
    drop = [v - 0.1 + rng.gauss(0, 0.02) for v in base]
    assert _pair(base, drop, ScorerSpec()) is Verdict.REGRESSION
    assert _pair(base, drop, ScorerSpec(tolerance=0.2)) is Verdict.WITHIN_TOLERANCE
    assert _pair(drop, base, ScorerSpec()) is Verdict.IMPROVEMENT
    # Lower is better (latency): the same drop is an improvement.
    assert _pair(base, drop, ScorerSpec(higher_is_better=False)) is Verdict.IMPROVEMENT
    noise = [v + rng.gauss(0, 0.02) for v in base]
    assert _pair(base, noise, ScorerSpec()) is Verdict.NO_CHANGE


def test_binary_scores_use_mcnemar_with_discordant_counts() -> None:
    base = [1.0] * 30 + [0.0] * 10
    cand = [1.0] * 20 + [0.0] * 10 + [1.0] * 2 + [0.0] * 8  # lost 10, won 2
    b = RunScores("b", {"ok": {f"c{i}": [v] for i, v in enumerate(base)}})
    c = RunScores("c", {"ok": {f"c{i}": [v] for i, v in enumerate(cand)}})
    row = compare(b, c).rows[0]
    assert row.test == "mcnemar-exact"
    assert row.discordant == (10, 2)
    assert row.p_value == pytest.approx(mcnemar_exact_p(10, 2))
    assert row.diff.mean == pytest.approx(-0.2)
    assert row.baseline.mean == 0.75 and row.candidate.low < row.candidate.mean < row.candidate.high


def test_slices_small_slices_untested_and_families() -> None:
    ids = [f"c{i}" for i in range(30)]
    slices = {cid: {"topic": "big" if i < 26 else "tiny"} for i, cid in enumerate(ids)}
    b = RunScores("b", {"s": {cid: [0.5] for cid in ids}}, slices)
    c = RunScores("c", {"s": {cid: [0.5 + 0.01 * (i % 3)] for i, cid in enumerate(ids)}}, slices)
    result = compare(b, c)
    by = {(r.slice_key, r.slice_value): r for r in result.rows}
    assert set(by) == {(None, None), ("topic", "big"), ("topic", "tiny")}
    assert by[("topic", "tiny")].verdict is Verdict.UNTESTED and by[("topic", "tiny")].p_value is None
    # Split families: the headline row is corrected alone (one test), so its p is unadjusted.
    assert by[(None, None)].p_adjusted == by[(None, None)].p_value
    joint = compare(b, c, options=CompareOptions(families="joint"))
    headline = joint.overall("s")
    assert headline is not None and headline.p_adjusted is not None and headline.p_value is not None
    big = next(r for r in joint.rows if r.slice_value == "big")
    assert big.p_value is not None
    # Holm over two tests: the smaller p doubles, the larger one is at least that.
    assert max(headline.p_adjusted, big.p_adjusted or 0.0) >= min(1.0, 2 * min(headline.p_value, big.p_value))


def test_results_are_reproducible_and_only_shared_cases_count() -> None:
    b = RunScores("b", {"s": {"x": [0.1], "y": [0.4], "z": [0.3], "only-b": [1.0]}})
    c = RunScores("c", {"s": {"x": [0.2], "y": [0.6], "z": [0.1], "only-c": [0.0]}})
    first, second = compare(b, c), compare(b, c)
    assert first == second
    assert first.only_baseline == 1 and first.only_candidate == 1
    assert first.rows[0].n == 3
    assert math.isclose(first.rows[0].diff.mean, (0.1 + 0.2 - 0.2) / 3)


def test_side_intervals_stay_within_the_range_of_bounded_scores() -> None:
    values = [1.0] * 58 + [0.5, 0.5, 0.0]  # a share-style scorer: mostly 1, a few partial
    b = RunScores("b", {"s": {f"c{i}": [v] for i, v in enumerate(values)}})
    c = RunScores("c", {"s": {f"c{i}": [v] for i, v in enumerate(values)}})
    row = compare(b, c).rows[0]
    assert row.test == "sign-flip" and row.baseline.high == 1.0
    assert 0.0 <= row.baseline.low < row.baseline.mean
