"""Synthetic pairs of eval runs with a known truth, shared by the stats, report and browser tests.

Each case has a latent difficulty ``u`` in [0, 1], fixed by ``case_seed`` (the dataset). A target with
pass rate ``rate`` passes the cases with ``u < rate``, except that on a share ``noise`` of draws the
outcome is a fresh coin with the same rate: sampling noise that keeps the marginal rate exact. So two
runs of one target disagree on a few cases (as real re-runs do) and two targets mostly agree on easy
and hard cases. ``similarity`` rises with ``rate - u`` plus Gaussian noise; latency ignores the target.
"""

from __future__ import annotations

import random

from pilothouse.evals.report import CaseView, Report, threshold_checks
from pilothouse.evals.stats import CompareOptions, RunScores, ScorerSpec, compare

TOPICS = ("billing", "shipping", "refunds", "account")


def synthetic_run(
    label: str,
    rate: float,
    *,
    seed: int,
    cases: int = 100,
    repeats: int = 1,
    noise: float = 0.15,
    case_seed: int = 7,
) -> RunScores:
    """``rate``: the pass rate; ``seed``: the sampling noise of this run; ``case_seed``: the dataset."""
    difficulty = _difficulties(case_seed, cases)
    rng = random.Random(seed)
    passed: dict[str, list[float]] = {}
    similarity: dict[str, list[float]] = {}
    latency: dict[str, list[float]] = {}
    for i, u in enumerate(difficulty):
        cid = f"case-{i:03d}"
        passed[cid] = [
            float((rng.random() < rate) if rng.random() < noise else u < rate) for _ in range(repeats)
        ]
        similarity[cid] = [
            min(1.0, max(0.0, rng.gauss(0.5 + 0.3 * (rate - u), 0.08))) for _ in range(repeats)
        ]
        latency[cid] = [max(50.0, rng.gauss(900.0 + 200.0 * u, 80.0)) for _ in range(repeats)]
    slices = {f"case-{i:03d}": {"topic": TOPICS[i % len(TOPICS)]} for i in range(cases)}
    return RunScores(label, {"passed": passed, "similarity": similarity, "latency_ms": latency}, slices)


def _difficulties(case_seed: int, cases: int) -> list[float]:
    rng = random.Random(case_seed)
    return [rng.random() for _ in range(cases)]


SPECS = {"latency_ms": ScorerSpec(higher_is_better=False, tolerance=50.0)}


def demo_report(seed: int = 0) -> Report:
    """A report with a real improvement, for the report and browser tests."""
    baseline = synthetic_run("support-reply@1 x smollm2", 0.6, seed=seed + 1)
    candidate = synthetic_run("support-reply@2 x smollm2", 0.8, seed=seed + 2)
    comparison = compare(baseline, candidate, SPECS, CompareOptions(seed=seed))
    cases = [
        CaseView(
            case_id=cid,
            input=f"Customer message for {cid}: where is my order <#{cid}>?",
            baseline_output="Thanks for reaching out. Your order shipped on Monday.",
            candidate_output="Thanks for reaching out! Your order shipped on Monday and arrives Thursday.",
            baseline_scores={s: sum(v[cid]) / len(v[cid]) for s, v in baseline.scores.items()},
            candidate_scores={s: sum(v[cid]) / len(v[cid]) for s, v in candidate.scores.items()},
            slices=dict(candidate.slices[cid]),
        )
        for cid in sorted(candidate.scores["passed"])[:12]
    ]
    checks = threshold_checks(candidate, {"passed": 0.7, "latency_ms": 1500.0}, SPECS)
    meta = {"suite": "examples/support/evals/support-reply.yaml", "cases": "100"}
    return Report("support-reply: v1 -> v2", comparison, cases, checks, meta)
