"""The release gate: thresholds must hold, and no significant regression against the baseline.

For each candidate target (a prompt version x model, or a model in a suite without prompts):

1. every scorer with a ``threshold`` must reach it with its mean over cases (repeats averaged first);
2. against its baseline (the same prompt's ``production`` version on the same model, pinned in the
   same run; or the same target in ``--baseline RUN_ID``), ``stats.compare`` tests every scorer on
   all cases and per slice, paired by case, corrected for the number of tests (Holm by default). A
   regression is a significant drop whose confidence interval lies wholly below minus the tolerance.

A target passes when both hold; a prompt version passes when all its targets (models) do, and the
run's pass is recorded as the version's ``GateEvidence``. Errored cases count as failing every
scorer (see ``scoring.failed_scores``), so an outage cannot pass a gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord, EvalTarget
from pilothouse.evals.report import ThresholdCheck, threshold_checks
from pilothouse.evals.stats import (
    CompareOptions,
    Comparison,
    RunScores,
    ScorerSpec,
    compare,
    within_case_noise,
)
from pilothouse.evals.suite import SuiteConfig
from pilothouse.evals.targets import target_id


def run_scores(
    label: str, results: Sequence[EvalResultRecord], slices: Mapping[str, Mapping[str, str]] | None = None
) -> RunScores:
    """One target's results as the stats module reads them: scorer -> case -> value per repeat."""
    scores: dict[str, dict[str, list[float]]] = {}
    for result in sorted(results, key=lambda r: (r.case_id, r.repeat)):
        for score in result.scores:
            scores.setdefault(score.scorer, {}).setdefault(result.case_id, []).append(score.value)
    return RunScores(label=label, scores=scores, slices=dict(slices or {}))


def case_slices(results: Sequence[EvalResultRecord]) -> dict[str, dict[str, str]]:
    """Each case's metadata (stored with its results) as slice labels; nested values are not slices."""
    out: dict[str, dict[str, str]] = {}
    for r in results:
        metadata = r.output.get("metadata") or {}
        out[r.case_id] = {k: str(v) for k, v in metadata.items() if isinstance(v, str | int | float | bool)}
    return out


def by_target(results: Sequence[EvalResultRecord]) -> dict[str, list[EvalResultRecord]]:
    grouped: dict[str, list[EvalResultRecord]] = {}
    for r in results:
        grouped.setdefault(r.target_id, []).append(r)
    return grouped


@dataclass
class TargetGate:
    target: EvalTarget
    checks: list[ThresholdCheck]
    comparison: Comparison | None = None
    baseline: str | None = None  # what the comparison was against
    baseline_target: str | None = None  # its target id, when it ran in the same run

    @property
    def passed(self) -> bool:
        regressions = self.comparison.regressions if self.comparison is not None else []
        return all(c.passed for c in self.checks) and not regressions

    def summary(self) -> dict[str, Any]:
        regressions = self.comparison.regressions if self.comparison is not None else []
        return {
            "target": self.target.target_id,
            "label": self.target.label,
            "passed": self.passed,
            "baseline": self.baseline,
            "checks": [
                {"scorer": c.scorer, "mean": c.value, "threshold": c.threshold, "passed": c.passed}
                for c in self.checks
            ],
            "regressions": [
                {
                    "scorer": r.scorer,
                    "slice": None if r.slice_key is None else f"{r.slice_key}={r.slice_value}",
                    "diff": r.diff.mean,
                    "ci": [r.diff.low, r.diff.high],
                    "p_adjusted": r.p_adjusted,
                }
                for r in regressions
            ],
        }


@dataclass
class GateOutcome:
    targets: list[TargetGate]
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.targets)

    def versions_passed(self) -> list[tuple[str, int]]:
        """Prompt versions every one of whose targets passed: the release gate's evidence."""
        verdicts: dict[tuple[str, int], bool] = {}
        for t in self.targets:
            if t.target.prompt is not None and t.target.version is not None:
                key = (t.target.prompt, t.target.version)
                verdicts[key] = verdicts.get(key, True) and t.passed
        return sorted(k for k, ok in verdicts.items() if ok)

    def summary(self) -> dict[str, Any]:
        return {"passed": self.passed, "targets": [t.summary() for t in self.targets], "notes": self.notes}


def scorer_specs(config: SuiteConfig) -> dict[str, ScorerSpec]:
    """Scores are in [0, 1], higher is better; each scorer's tolerance, or the gate's."""
    return {
        s.name: ScorerSpec(tolerance=s.tolerance if s.tolerance is not None else config.gate.tolerance)
        for s in config.scorers
    }


def evaluate_gate(
    config: SuiteConfig,
    run: EvalRunRecord,
    results: Sequence[EvalResultRecord],
    *,
    baseline_run: tuple[EvalRunRecord, Sequence[EvalResultRecord]] | None = None,
) -> GateOutcome:
    slices = case_slices(results)
    grouped = by_target(results)
    specs = scorer_specs(config)
    thresholds = {s.name: s.threshold for s in config.scorers if s.threshold is not None}
    options = CompareOptions(
        confidence=config.gate.confidence, correction=config.gate.correction, slice_keys=config.gate.slices
    )
    baselines: dict[str, int] = dict(run.spec.get("baselines") or {})
    other = by_target(baseline_run[1]) if baseline_run is not None else {}
    outcome = GateOutcome([])
    for target in run.targets:
        if target.role != "candidate":
            continue
        mine = run_scores(target.label, grouped.get(target.target_id, []), slices)
        gate = TargetGate(target, threshold_checks(mine, thresholds, specs))
        base_results: list[EvalResultRecord] | None = None
        if baseline_run is not None:
            base_results = other.get(target.target_id)
            gate.baseline = f"{target.target_id} in run {baseline_run[0].run_id}"
            if base_results is None:
                outcome.notes.append(f"{target.label}: not in baseline run {baseline_run[0].run_id}")
        elif target.prompt is not None and target.prompt in baselines:
            version = baselines[target.prompt]
            if version != target.version:
                base_id = target_id(target.model, target.prompt, version)
                base_results = grouped.get(base_id)
                gate.baseline_target = base_id
                gate.baseline = f"{target.prompt}@{version} ({config.gate.baseline}) x {target.model}"
        if base_results:
            base = run_scores(gate.baseline or "baseline", base_results, slices)
            gate.comparison = compare(base, mine, specs, options)
        outcome.targets.append(gate)
    return outcome


def score_table(run: EvalRunRecord, results: Sequence[EvalResultRecord]) -> list[dict[str, Any]]:
    """Per target and scorer: mean score, pass rate and counts (for ``eval show`` and run summaries)."""
    grouped = by_target(results)
    rows = []
    for target in run.targets:
        mine = grouped.get(target.target_id, [])
        scorers: dict[str, list[tuple[float, bool | None]]] = {}
        repeated: dict[str, dict[str, list[float]]] = {}  # a judge's repeated verdicts per item
        for r in mine:
            for s in r.scores:
                scorers.setdefault(s.scorer, []).append((s.value, s.passed))
                samples = s.details.get("samples")
                if isinstance(samples, list) and len(samples) > 1:
                    repeated.setdefault(s.scorer, {})[f"{r.case_id}#{r.repeat}"] = [float(x) for x in samples]
        for name, values in scorers.items():
            verdicts = [p for _, p in values if p is not None]
            noise = within_case_noise(repeated[name]) if name in repeated else None
            rows.append(
                {
                    "target": target.target_id,
                    "label": target.label,
                    "role": target.role,
                    "scorer": name,
                    "n": len(values),
                    "mean": sum(v for v, _ in values) / len(values),
                    "pass_rate": sum(verdicts) / len(verdicts) if verdicts else None,
                    "errors": sum(1 for r in mine if r.status == "error"),
                    # judge_repeat: the pooled SD of one output's repeated judgements (the judge's noise)
                    "judge_sd": noise.within_sd if noise is not None else None,
                }
            )
    return rows
