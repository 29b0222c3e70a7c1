"""Acceptance 3: a known difference is flagged as significant; two runs of one target with different
sampling seeds are not, and over many seeds the false-positive rate stays near alpha."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from pilothouse.evals.report import Report, render_junit, render_markdown
from pilothouse.evals.stats import CompareOptions, Verdict, compare
from tests.eval_runs import SPECS, synthetic_run

pytestmark = pytest.mark.unit


def test_known_difference_is_flagged_in_both_directions() -> None:
    weak = synthetic_run("prompt@1", 0.6, seed=1)
    strong = synthetic_run("prompt@2", 0.8, seed=2)

    better = compare(weak, strong, SPECS)
    for scorer in ("passed", "similarity"):
        row = better.overall(scorer)
        assert row is not None and row.significant, scorer
        assert row.verdict is Verdict.IMPROVEMENT
        assert row.diff.low > 0
    passed = better.overall("passed")
    assert passed is not None and passed.test == "mcnemar-exact"
    assert passed.diff.low < 0.2 < passed.diff.high  # the interval holds the true change

    worse = compare(strong, weak, SPECS)
    assert {r.scorer for r in worse.regressions if r.slice_key is None} == {"passed", "similarity"}
    latency = worse.overall("latency_ms")
    assert latency is not None and latency.verdict is Verdict.NO_CHANGE  # latency did not change

    report = Report("prompt@2 -> prompt@1", worse)
    assert "❌" in render_markdown(report) and "▼ regression" in render_markdown(report)
    junit = ET.fromstring(render_junit(report))
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert "passed" in failed and "similarity" in failed


def test_same_target_different_seeds_is_not_flagged() -> None:
    first = synthetic_run("prompt@1", 0.7, seed=11)
    second = synthetic_run("prompt@1", 0.7, seed=12)
    result = compare(first, second, SPECS)
    assert not [r for r in result.rows if r.significant]
    assert not result.regressions
    assert "✅" in render_markdown(Report("re-run", result))


def test_false_positive_rate_is_near_alpha_over_many_seeds() -> None:
    """200 pairs of re-runs of one target: each test should fire on about 5% of them, the family
    (three scorers, Holm) on at most about 5%. Fewer resamples keep this fast; p stays exact enough."""
    runs = 200
    options = CompareOptions(slice_keys=(), resamples=200, permutations=1000)
    fired = {"passed": 0, "similarity": 0, "latency_ms": 0}
    family = 0
    for i in range(runs):
        a = synthetic_run("t", 0.7, seed=1000 + 2 * i)
        b = synthetic_run("t", 0.7, seed=1001 + 2 * i)
        result = compare(a, b, SPECS, options)
        for row in result.rows:
            fired[row.scorer] += row.p_value is not None and row.p_value < 0.05
        family += any(r.significant for r in result.rows)
    rates = {k: v / runs for k, v in fired.items()}
    # Binomial(200, 0.05) has SD 0.015: allow about 2.5 SD above alpha.
    assert all(rate <= 0.09 for rate in rates.values()), rates
    assert family / runs <= 0.09
    # Calibrated, not just silent: the randomization tests fire at about the nominal rate. (The exact
    # McNemar test is conservative with few discordant pairs, so it fires less often than 5%.)
    assert rates["similarity"] >= 0.015 and rates["latency_ms"] >= 0.015, rates


def test_repeats_do_not_turn_noise_into_change_and_report_the_noise() -> None:
    first = synthetic_run("t", 0.7, seed=21, repeats=3)
    second = synthetic_run("t", 0.7, seed=22, repeats=3)
    result = compare(first, second, SPECS)
    assert not [r for r in result.rows if r.significant]
    row = result.overall("similarity")
    assert row is not None and row.n == 100 and row.noise_se is not None
    noise = result.noise["similarity"]["t"]
    assert noise.max_repeats == 3 and noise.within_sd == pytest.approx(0.08, rel=0.15)  # the model's SD
    # The SE of a re-run's difference that repeat noise predicts matches the interval's width.
    assert (row.diff.high - row.diff.low) / 3.92 == pytest.approx(row.noise_se, rel=0.35)
