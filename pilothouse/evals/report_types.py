"""The plain data a report is made of, and the number formatting every format shares."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pilothouse.evals.stats import Comparison, ComparisonRow, Verdict


@dataclass(frozen=True)
class CaseView:
    """One case side by side: what was asked, both outputs, both sides' per-scorer case means."""

    case_id: str
    input: str
    baseline_output: str
    candidate_output: str
    baseline_scores: Mapping[str, float] = field(default_factory=dict)
    candidate_scores: Mapping[str, float] = field(default_factory=dict)
    slices: Mapping[str, str] = field(default_factory=dict)
    expected: str | None = None
    baseline_trace: str | None = None
    candidate_trace: str | None = None


@dataclass(frozen=True)
class ThresholdCheck:
    scorer: str
    target: str
    value: float
    threshold: float
    passed: bool
    higher_is_better: bool = True


@dataclass(frozen=True)
class Report:
    title: str
    comparison: Comparison
    cases: Sequence[CaseView] = ()
    checks: Sequence[ThresholdCheck] = ()
    meta: Mapping[str, str] = field(default_factory=dict)  # suite, run ids, commit, created at

    @property
    def passed(self) -> bool:
        return not self.comparison.regressions and all(c.passed for c in self.checks)


def fmt(x: float | None, signed: bool = False) -> str:
    """Numbers at a precision that fits their size: rates and similarities 3 decimals, ms whole."""
    if x is None or math.isnan(x):
        return "n/a"
    sign = "+" if signed else ""
    size = abs(x)
    if size >= 100:
        return f"{x:{sign}.0f}"
    if size >= 10:
        return f"{x:{sign}.1f}"
    return f"{x:{sign}.3f}"


def fmt_ci(low: float, high: float, signed: bool = False) -> str:
    return f"[{fmt(low, signed)}, {fmt(high, signed)}]"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


_MARKERS = {
    Verdict.REGRESSION: "▼ regression",
    Verdict.IMPROVEMENT: "▲ improvement",
    Verdict.WITHIN_TOLERANCE: "≈ within tolerance",
    Verdict.NO_CHANGE: "no significant change",
    Verdict.UNTESTED: "untested (too few cases)",
}


def marker(verdict: Verdict) -> str:
    return _MARKERS[verdict]


def slice_name(row: ComparisonRow) -> str:
    return "all cases" if row.slice_key is None else f"{row.slice_key}={row.slice_value}"
