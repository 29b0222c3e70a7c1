"""The gate's decisions on constructed results: thresholds, a regression against the in-run baseline,
no regression on noise-free equality, per-version evidence and the summary table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord, EvalScoreRecord, EvalTarget
from pilothouse.evals.gate import evaluate_gate, score_table
from pilothouse.evals.suite import SuiteConfig

pytestmark = pytest.mark.unit

BASE = EvalTarget(target_id="p@1|m", model="m", prompt="p", ref="production", version=1, role="baseline")
GOOD = EvalTarget(target_id="p@2|m", model="m", prompt="p", ref="2", version=2)
BAD = EvalTarget(target_id="p@3|m", model="m", prompt="p", ref="3", version=3)
OTHER_MODEL = EvalTarget(target_id="p@3|n", model="n", prompt="p", ref="3", version=3)


def results(
    target: EvalTarget, passes: list[bool], samples: list[float] | None = None
) -> list[EvalResultRecord]:
    return [
        EvalResultRecord(
            run_id="r",
            case_id=f"c{i:02d}",
            target_id=target.target_id,
            cache_key=f"{target.target_id}{i}",
            output={"metadata": {"half": "first" if i < len(passes) / 2 else "second"}},
            created_at=datetime.now(UTC),
            scores=[
                EvalScoreRecord(scorer="ok", score_key="k", value=float(p), passed=p),
                EvalScoreRecord(
                    scorer="judge", score_key="j", value=0.5, details={"samples": samples or [0.5]}
                ),
            ],
        )
        for i, p in enumerate(passes)
    ]


def config(**gate: object) -> SuiteConfig:
    return SuiteConfig.model_validate(
        {
            "dataset": "x.jsonl",
            "prompts": ["p@2"],
            "scorers": [
                {"scorer": "exact", "name": "ok", "threshold": 0.5},
                {"scorer": "exact", "name": "judge"},
            ],
            "gate": {"tolerance": 0.05, **gate},
        }
    )


def run(*targets: EvalTarget) -> EvalRunRecord:
    return EvalRunRecord(
        run_id="r", suite="s", suite_hash="h", created_at=datetime.now(UTC), gate=True,
        targets=list(targets), spec={"baselines": {"p": 1}},
    )  # fmt: skip


def test_regression_against_the_baseline_fails_only_the_regressed_version() -> None:
    all_pass = [True] * 30
    mostly_fail = [i % 5 == 0 for i in range(30)]
    outcome = evaluate_gate(
        config(),
        run(GOOD, BAD, OTHER_MODEL, BASE),
        results(BASE, all_pass)
        + results(GOOD, all_pass)
        + results(BAD, mostly_fail)
        + results(OTHER_MODEL, all_pass),
    )
    by = {t.target.target_id: t for t in outcome.targets}
    assert set(by) == {"p@2|m", "p@3|m", "p@3|n"}  # the baseline itself is not gated
    assert by["p@2|m"].passed and by["p@2|m"].comparison is not None
    assert not by["p@2|m"].comparison.regressions  # identical results: no change
    bad = by["p@3|m"]
    assert not bad.passed and bad.baseline == "p@1 (production) x m" and bad.baseline_target == "p@1|m"
    assert [c.passed for c in bad.checks] == [False]  # mean 0.2 below the 0.5 threshold
    assert {(r.scorer, r.slice_key) for r in bad.comparison.regressions} >= {("ok", None)}  # type: ignore[union-attr]
    # No baseline for model n in this run: thresholds only.
    assert by["p@3|n"].comparison is None and by["p@3|n"].passed
    assert not outcome.passed
    assert outcome.versions_passed() == [("p", 2)]  # v3 failed on one of its models
    summary = outcome.summary()
    assert summary["passed"] is False
    regressed = next(t for t in summary["targets"] if t["target"] == "p@3|m")["regressions"]
    assert regressed[0]["scorer"] == "ok" and regressed[0]["diff"] == pytest.approx(-0.8)


def test_a_small_drop_within_tolerance_passes() -> None:
    slightly_worse = [i != 0 for i in range(30)]  # one case fewer: -0.033, inside the 0.05 tolerance
    outcome = evaluate_gate(
        config(), run(GOOD, BASE), results(BASE, [True] * 30) + results(GOOD, slightly_worse)
    )
    assert outcome.passed and outcome.versions_passed() == [("p", 2)]


def test_score_table_reports_means_pass_rates_and_judge_noise() -> None:
    rows = score_table(run(GOOD), results(GOOD, [True, False, True, True], samples=[0.25, 0.75]))
    by = {r["scorer"]: r for r in rows}
    assert by["ok"]["mean"] == 0.75 and by["ok"]["pass_rate"] == 0.75 and by["ok"]["judge_sd"] is None
    assert by["judge"]["pass_rate"] is None
    # Each output judged twice as 0.25 and 0.75: the pooled within-item SD is sqrt(0.125) = 0.354.
    assert by["judge"]["judge_sd"] == pytest.approx(0.125**0.5)
