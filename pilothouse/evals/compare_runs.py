"""Comparing stored runs: two runs, or two targets of one run, as a ``stats.Comparison`` and a report.

Which targets pair up: the ones named (``--baseline-target``/``--candidate-target``); else the
candidate targets the two runs share (the same prompt version x model, e.g. before and after a
config change); else, when each side has exactly one candidate target, those two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord, EvalTarget
from pilothouse.evals.gate import by_target, case_slices, run_scores
from pilothouse.evals.report import CaseView, Report, threshold_checks
from pilothouse.evals.stats import CompareOptions, ScorerSpec, compare
from pilothouse.evals.suite import SuiteConfig


@dataclass(frozen=True)
class Side:
    run: EvalRunRecord
    target: EvalTarget
    results: list[EvalResultRecord]

    @property
    def label(self) -> str:
        return f"{self.target.label} [{self.run.run_id[-8:]}]"


class PairingError(ValueError):
    pass


def _candidates(run: EvalRunRecord) -> list[EvalTarget]:
    return [t for t in run.targets if t.role == "candidate"]


def _find(run: EvalRunRecord, target: str) -> EvalTarget:
    found = next((t for t in run.targets if t.target_id == target or t.label == target), None)
    if found is None:
        known = ", ".join(t.target_id for t in run.targets)
        raise PairingError(f"run {run.run_id} has no target {target!r} (targets: {known})")
    return found


def pair_targets(
    a: EvalRunRecord, b: EvalRunRecord, a_target: str | None = None, b_target: str | None = None
) -> list[tuple[EvalTarget, EvalTarget]]:
    if a_target or b_target:
        # One name given: the same target on the other side.
        left = _find(a, a_target or b_target or "")
        right = _find(b, b_target or a_target or "")
        if a.run_id == b.run_id and left.target_id == right.target_id:
            raise PairingError("within one run, name two different targets to compare")
        return [(left, right)]
    shared = [t for t in _candidates(b) if any(t.target_id == s.target_id for s in _candidates(a))]
    if shared and a.run_id != b.run_id:
        return [(_find(a, t.target_id), t) for t in shared]
    if len(_candidates(a)) == 1 and len(_candidates(b)) == 1 and a.run_id != b.run_id:
        return [(_candidates(a)[0], _candidates(b)[0])]
    raise PairingError("cannot tell which targets to compare: name --baseline-target and --candidate-target")


def suite_config(run: EvalRunRecord) -> SuiteConfig | None:
    data = run.spec.get("suite")
    return SuiteConfig.model_validate(data) if isinstance(data, dict) else None


def _scorer_settings(
    config: SuiteConfig | None,
) -> tuple[dict[str, ScorerSpec], dict[str, float], CompareOptions]:
    if config is None:
        return {}, {}, CompareOptions()
    specs = {
        s.name: ScorerSpec(tolerance=s.tolerance if s.tolerance is not None else config.gate.tolerance)
        for s in config.scorers
    }
    thresholds = {s.name: s.threshold for s in config.scorers if s.threshold is not None}
    options = CompareOptions(
        confidence=config.gate.confidence, correction=config.gate.correction, slice_keys=config.gate.slices
    )
    return specs, thresholds, options


def _case_views(base: Side, cand: Side) -> list[CaseView]:
    def means(results: Sequence[EvalResultRecord]) -> dict[str, dict[str, float]]:
        sums: dict[str, dict[str, list[float]]] = {}
        for r in results:
            for s in r.scores:
                sums.setdefault(r.case_id, {}).setdefault(s.scorer, []).append(s.value)
        return {c: {k: sum(v) / len(v) for k, v in per.items()} for c, per in sums.items()}

    first_b = {r.case_id: r for r in sorted(base.results, key=lambda r: -r.repeat)}
    first_c = {r.case_id: r for r in sorted(cand.results, key=lambda r: -r.repeat)}
    mb, mc = means(base.results), means(cand.results)
    slices = case_slices([*base.results, *cand.results])
    views = []
    for case_id in sorted(set(first_b) & set(first_c)):
        b, c = first_b[case_id], first_c[case_id]
        expected = c.output.get("expected")
        views.append(
            CaseView(
                case_id=case_id,
                input=str(c.output.get("input", "")),
                baseline_output=str(b.output.get("text", "")) or (b.error or ""),
                candidate_output=str(c.output.get("text", "")) or (c.error or ""),
                baseline_scores=mb.get(case_id, {}),
                candidate_scores=mc.get(case_id, {}),
                slices=slices.get(case_id, {}),
                expected=None if expected is None else str(expected),
                baseline_trace=b.trace_id,
                candidate_trace=c.trace_id,
            )
        )
    return views


def comparison_report(
    base: Side, cand: Side, *, title: str | None = None, meta: dict[str, Any] | None = None
) -> Report:
    """Per-scorer and per-slice paired comparison, the candidate's threshold checks, and every case."""
    config = suite_config(cand.run) or suite_config(base.run)
    specs, thresholds, options = _scorer_settings(config)
    slices = case_slices([*base.results, *cand.results])
    base_scores = run_scores(base.label, base.results, slices)
    cand_scores = run_scores(cand.label, cand.results, slices)
    comparison = compare(base_scores, cand_scores, specs, options)
    return Report(
        title=title or f"{cand.run.suite}: {base.target.label} -> {cand.target.label}",
        comparison=comparison,
        cases=_case_views(base, cand),
        checks=threshold_checks(cand_scores, thresholds, specs),
        meta={
            "suite": cand.run.suite,
            "baseline run": base.run.run_id,
            "candidate run": cand.run.run_id,
            "baseline": base.target.label,
            "candidate": cand.target.label,
            **{k: str(v) for k, v in (meta or {}).items()},
        },
    )


def sides(
    a: tuple[EvalRunRecord, list[EvalResultRecord]],
    b: tuple[EvalRunRecord, list[EvalResultRecord]],
    pairs: list[tuple[EvalTarget, EvalTarget]],
) -> list[tuple[Side, Side]]:
    ga, gb = by_target(a[1]), by_target(b[1])
    return [
        (Side(a[0], ta, ga.get(ta.target_id, [])), Side(b[0], tb, gb.get(tb.target_id, [])))
        for ta, tb in pairs
    ]
