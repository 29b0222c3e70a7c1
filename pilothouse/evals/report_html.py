"""The HTML report: one self-contained file (inline CSS, a few lines of inline JS, no network).

Python prepares a small view model (formatted numbers, interval bars, word-level diffs of the two
outputs) so the Jinja2 template stays free of logic; autoescaping is on for every value.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pilothouse.evals.report_types import CaseView, Report, fmt, fmt_ci, fmt_p, marker, slice_name
from pilothouse.evals.stats import ComparisonRow, Verdict

# Words, runs of whitespace and single punctuation marks: diffs read as edits of words, not letters.
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@dataclass(frozen=True)
class Segment:
    kind: str  # "same" | "del" | "ins"
    text: str


def word_diff(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """Both texts as segments: the left marks what was removed, the right what was added."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(Segment("same", "".join(a[i1:i2])))
            right.append(Segment("same", "".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(Segment("del", "".join(a[i1:i2])))
        if j2 > j1:
            right.append(Segment("ins", "".join(b[j1:j2])))
    return left, right


def _bar(row: ComparisonRow, scale: float) -> dict[str, float] | None:
    """Positions (percent of the cell) of the interval, the point estimate, zero and -tolerance."""
    if any(math.isnan(x) for x in (row.diff.low, row.diff.high)) or scale <= 0:
        return None

    def pos(x: float) -> float:
        return round(50.0 + 50.0 * x / scale, 2)

    # Tolerance is a bad-direction margin: below zero when higher is better, above when lower is.
    tol = -row.tolerance if row.higher_is_better else row.tolerance
    return {"low": pos(row.diff.low), "high": pos(row.diff.high), "mean": pos(row.diff.mean), "tol": pos(tol)}


def _row_view(row: ComparisonRow, scale: float) -> dict[str, Any]:
    return {
        "scorer": row.scorer,
        "slice": slice_name(row),
        "n": row.n,
        "baseline": f"{fmt(row.baseline.mean)}",
        "baseline_ci": fmt_ci(row.baseline.low, row.baseline.high),
        "candidate": f"{fmt(row.candidate.mean)}",
        "candidate_ci": fmt_ci(row.candidate.low, row.candidate.high),
        "diff": fmt(row.diff.mean, signed=True),
        "diff_ci": fmt_ci(row.diff.low, row.diff.high, signed=True),
        "p": fmt_p(row.p_value),
        "p_adj": fmt_p(row.p_adjusted),
        "test": row.test,
        "significant": row.significant,
        "verdict": row.verdict.value,
        "verdict_class": row.verdict.name.lower().replace("_", "-"),
        "marker": marker(row.verdict),
        "discordant": row.discordant,
        "noise_se": None if row.noise_se is None else fmt(row.noise_se),
        "direction": "higher is better" if row.higher_is_better else "lower is better",
        "bar": _bar(row, scale),
    }


def _case_view(case: CaseView, higher_is_better: dict[str, bool]) -> dict[str, Any]:
    left, right = word_diff(case.baseline_output, case.candidate_output)
    scores = []
    changed = False
    for s, higher in higher_is_better.items():
        a, b = case.baseline_scores.get(s), case.candidate_scores.get(s)
        delta = None if a is None or b is None else b - a
        moved = delta is not None and abs(delta) > 1e-12
        changed = changed or moved
        better = moved and delta is not None and (delta > 0) == higher
        scores.append(
            {
                "scorer": s,
                "baseline": fmt(a),
                "candidate": fmt(b),
                "delta": delta if moved else None,
                "better": better,
            }
        )
    return {
        "id": case.case_id,
        "input": case.input,
        "expected": case.expected,
        "slices": dict(case.slices),
        "left": left,
        "right": right,
        "scores": scores,
        "changed": changed,
        "baseline_trace": case.baseline_trace,
        "candidate_trace": case.candidate_trace,
    }


def render_html(report: Report) -> str:
    """The full report as one HTML document."""
    cmp = report.comparison
    scales: dict[str, float] = {}
    for r in cmp.rows:  # one scale per scorer, so its slices' bars line up with the all-cases bar
        ends = [abs(x) for x in (r.diff.low, r.diff.high, r.tolerance) if not math.isnan(x)]
        scales[r.scorer] = max(scales.get(r.scorer, 0.0), *ends, 1e-9) * 1.1
    directions = {r.scorer: r.higher_is_better for r in sorted(cmp.rows, key=lambda r: r.scorer)}
    cases = [_case_view(c, directions) for c in report.cases]
    cases.sort(key=lambda c: (not c["changed"], c["id"]))
    env = Environment(
        loader=PackageLoader("pilothouse.evals", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    noise = [
        {
            "scorer": s,
            "side": label,
            "repeats": n.max_repeats,
            "within": fmt(n.within_sd),
            "between": fmt(n.between_sd),
        }
        for s, sides in cmp.noise.items()
        for label, n in sides.items()
        if n.within_sd is not None
    ]
    return env.get_template("report.html.j2").render(
        title=report.title,
        meta=dict(report.meta),
        baseline=cmp.baseline,
        candidate=cmp.candidate,
        options=cmp.options,
        passed=report.passed,
        regressions=len(cmp.regressions),
        improvements=sum(r.verdict is Verdict.IMPROVEMENT for r in cmp.rows),
        tests=sum(r.p_value is not None for r in cmp.rows),
        headline_tests=sum(r.p_value is not None and r.slice_key is None for r in cmp.rows),
        overall=[_row_view(r, scales[r.scorer]) for r in cmp.rows if r.slice_key is None],
        sliced=[_row_view(r, scales[r.scorer]) for r in cmp.rows if r.slice_key is not None],
        noise=noise,
        checks=report.checks,
        fmt=fmt,
        cases=cases,
        changed_cases=sum(c["changed"] for c in cases),
        only_baseline=cmp.only_baseline,
        only_candidate=cmp.only_candidate,
    )
