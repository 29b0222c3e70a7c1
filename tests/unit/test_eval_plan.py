"""Power analysis: textbook sample sizes, and exact McNemar power against a simulation."""

from __future__ import annotations

import random

import pytest
from typer import Typer
from typer.testing import CliRunner

from pilothouse.cli.eval_plan import plan
from pilothouse.evals.plan import mcnemar_power, paired_sd, plan_mean, plan_pass_rate
from pilothouse.evals.stats_math import mcnemar_exact_p

pytestmark = pytest.mark.unit


def test_paired_t_sample_size_matches_tables() -> None:
    # Effect size d = 0.5, alpha 0.05 two-sided, power 0.8: 34 pairs (Cohen 1988; G*Power).
    assert plan_mean(0.5, 1.0).cases == 34
    # d = 0.25 needs 128 pairs; power 0.9 at d = 0.5 needs 44.
    assert plan_mean(0.05, 0.2).cases == 128
    assert plan_mean(0.5, 1.0, power=0.9).cases == 44
    assert plan_mean(-0.5, 1.0).cases == 34  # direction does not matter


def test_paired_sd_from_score_sd_correlation_and_repeats() -> None:
    assert paired_sd(1.0, 0.5) == pytest.approx(1.0)
    assert paired_sd(0.2, 0.0) == pytest.approx(0.2 * 2**0.5)
    # Sampling noise adds 2 * within^2 / repeats to the variance of a difference.
    assert paired_sd(0.0, 0.0, within_sd=0.3, repeats=2) == pytest.approx(0.3)


def test_mcnemar_plan_starts_from_connors_formula() -> None:
    # delta 0.2, psi = 0.6*0.2 + 0.8*0.4 = 0.44: (1.96 sqrt(.44) + 0.8416 sqrt(.40))^2 / .04 = 83.9 -> 84.
    result = plan_pass_rate(0.6, 0.8)
    assert "Connor's formula gives 84" in result.notes[-1]
    assert result.cases >= 84 and result.power >= 0.8
    assert mcnemar_power(result.cases - 1, 0.2, 0.44, 0.05) < 0.8 or result.cases == 84
    # Fewer discordant cases (runs that agree on most cases) need fewer cases.
    assert plan_pass_rate(0.6, 0.8, discordant=0.25).cases < result.cases
    # Testing three scorers splits alpha and needs more.
    assert plan_pass_rate(0.6, 0.8, tests=3).cases > result.cases


def test_exact_power_agrees_with_simulation() -> None:
    rng = random.Random(5)
    n, p_lose, p_win = 60, 0.05, 0.25  # delta 0.2, psi 0.3
    rejections = 0
    trials = 3000
    for _ in range(trials):
        lose = win = 0
        for _ in range(n):
            u = rng.random()
            lose += u < p_lose
            win += p_lose <= u < p_lose + p_win
        rejections += mcnemar_exact_p(lose, win) < 0.05
    assert mcnemar_power(n, 0.2, 0.3, 0.05) == pytest.approx(rejections / trials, abs=0.025)


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="discordant"):
        plan_pass_rate(0.6, 0.8, discordant=0.1)
    with pytest.raises(ValueError, match="differ"):
        plan_pass_rate(0.6, 0.6)
    with pytest.raises(ValueError, match="non-zero"):
        plan_mean(0.0, 1.0)


def test_cli_prints_the_plan() -> None:
    app = Typer()
    app.command()(plan)
    runner = CliRunner()
    out = runner.invoke(app, ["--pass-rate", "0.6", "0.8"])
    assert out.exit_code == 0, out.output
    assert "cases to detect pass rate 0.600 -> 0.800" in out.output
    out = runner.invoke(app, ["--mean-change", "0.05", "--sd", "0.2", "--json"])
    assert out.exit_code == 0 and '"cases": 128' in out.output
    assert runner.invoke(app, []).exit_code == 2
    assert runner.invoke(app, ["--mean-change", "0.1"]).exit_code == 2
