"""Reports of a comparison: Markdown (PR comments), self-contained HTML, JSON and JUnit XML.

Inputs are plain data so the harness only hands over what it already has::

    report = Report(
        title="support-reply: v1 -> v2",
        comparison=compare(baseline_scores, candidate_scores, specs),   # pilothouse.evals.stats
        cases=[CaseView("c001", input="...", baseline_output="...", candidate_output="...",
                        baseline_scores={"refusal": 1.0}, candidate_scores={"refusal": 0.0},
                        slices={"topic": "billing"})],
        checks=threshold_checks(candidate_scores, {"refusal": 0.8}),
        meta={"suite": "evals/support-reply.yaml", "baseline run": "r_01...", "candidate run": "r_01..."},
    )
    write_report(report, Path("report.html"))       # format from the suffix: .md .html .json .xml
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pilothouse.evals.report_html import render_html
from pilothouse.evals.report_types import (
    CaseView,
    Report,
    ThresholdCheck,
    fmt,
    fmt_ci,
    fmt_p,
    marker,
    slice_name,
)
from pilothouse.evals.stats import ComparisonRow, RunScores, ScorerSpec, Verdict, case_means

__all__ = [
    "CaseView",
    "Report",
    "ThresholdCheck",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "threshold_checks",
    "write_report",
]


def threshold_checks(
    run: RunScores, thresholds: Mapping[str, float], specs: Mapping[str, ScorerSpec] | None = None
) -> list[ThresholdCheck]:
    """One check per scorer: the run's mean over cases (repeats averaged first) against its threshold."""
    specs = specs or {}
    checks = []
    for scorer, threshold in sorted(thresholds.items()):
        means = list(case_means(run.scores.get(scorer, {})).values())
        value = sum(means) / len(means) if means else math.nan
        higher = specs.get(scorer, ScorerSpec()).higher_is_better
        passed = bool(means) and (value >= threshold if higher else value <= threshold)
        checks.append(ThresholdCheck(scorer, run.label, value, threshold, passed, higher))
    return checks


# --- Markdown -------------------------------------------------------------------------------------


def _md_row(row: ComparisonRow, first: str) -> str:
    c = row
    return (
        f"| {first} | {c.n} | {fmt(c.baseline.mean)} {fmt_ci(c.baseline.low, c.baseline.high)} "
        f"| {fmt(c.candidate.mean)} {fmt_ci(c.candidate.low, c.candidate.high)} "
        f"| {fmt(c.diff.mean, signed=True)} {fmt_ci(c.diff.low, c.diff.high, signed=True)} "
        f"| {fmt_p(c.p_value)} | {fmt_p(c.p_adjusted)} | {marker(c.verdict)} |"
    )


def render_markdown(report: Report) -> str:
    """A PR comment: verdict first, the all-cases table, slices folded, then checks and method."""
    cmp = report.comparison
    opts = cmp.options
    conf = f"{opts.confidence:.0%}"
    regressions = cmp.regressions
    failed = [c for c in report.checks if not c.passed]
    status = "❌" if regressions or failed else "✅"
    lines = [
        f"## {status} {report.title}",
        "",
        f"**Baseline** `{cmp.baseline}` → **candidate** `{cmp.candidate}`",
        "",
        f"{len(regressions)} regression(s), {len(failed)} failed threshold(s); "
        f"{sum(r.verdict is Verdict.IMPROVEMENT for r in cmp.rows)} significant improvement(s).",
        "",
    ]
    head = (
        f"| {{}} | n | baseline ({conf} CI) | candidate ({conf} CI) | Δ ({conf} CI) | p | "
        f"p adj. ({opts.correction}) | verdict |\n|---|--:|---|---|---|--:|--:|---|"
    )
    overall = [r for r in cmp.rows if r.slice_key is None]
    lines += [head.format("scorer"), *(_md_row(r, f"`{r.scorer}`") for r in overall), ""]
    sliced = [r for r in cmp.rows if r.slice_key is not None]
    if sliced:
        lines += ["<details><summary>Per slice</summary>", "", head.format("scorer / slice")]
        lines += [_md_row(r, f"`{r.scorer}` {slice_name(r)}") for r in sliced]
        lines += ["", "</details>", ""]
    noisy = [(s, label, n) for s, sides in cmp.noise.items() for label, n in sides.items() if n.within_sd]
    if noisy:
        lines += ["**Repeat noise** (within-case SD; a re-run moves a case this much):", ""]
        lines += [
            f"- `{s}` on `{label}`: {fmt(n.within_sd)} over {n.max_repeats} repeats" for s, label, n in noisy
        ]
        lines.append("")
    if report.checks:
        lines += ["**Thresholds**", ""]
        for c in report.checks:
            op = "≥" if c.higher_is_better else "≤"
            mark = "✅" if c.passed else "❌"
            lines.append(f"- {mark} `{c.scorer}` on `{c.target}`: {fmt(c.value)} {op} {c.threshold}")
        lines.append("")
    if cmp.only_baseline or cmp.only_candidate:
        lines += [
            f"Unshared cases left out: {cmp.only_baseline} baseline-only, "
            f"{cmp.only_candidate} candidate-only.",
            "",
        ]
    tests = sum(r.p_value is not None for r in cmp.rows)
    headline = sum(r.p_value is not None and r.slice_key is None for r in cmp.rows)
    family = (
        f"within the {headline} all-cases and {tests - headline} slice tests"
        if opts.families == "split"
        else f"over {tests} tests"
    )
    lines.append(
        f"<sub>Paired on shared cases; repeats averaged per case. Δ interval: paired bootstrap "
        f"({opts.resamples} resamples, seed {opts.seed}); p: exact McNemar (pass/fail) or sign-flip "
        f"randomization; {opts.correction} correction {family}. "
        f"A regression is significant and its interval lies below -tolerance.</sub>"
    )
    return "\n".join(lines) + "\n"


# --- JSON -----------------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    """Everything in the report as JSON (NaN as null), for dashboards and other tools."""
    payload = {
        "title": report.title,
        "meta": dict(report.meta),
        "comparison": report.comparison,
        "regressions": len(report.comparison.regressions),
        "checks": list(report.checks),
        "cases": list(report.cases),
    }
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2, default=_json_default).decode()


def _json_default(obj: object) -> object:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Sequence) and not isinstance(obj, str):
        return list(obj)
    raise TypeError(type(obj).__name__)


# --- JUnit XML ------------------------------------------------------------------------------------


@dataclass
class _Suite:
    name: str
    cases: list[ET.Element] = field(default_factory=list)
    failures: int = 0

    def add(self, classname: str, name: str, failure: str | None) -> None:
        case = ET.Element("testcase", classname=classname, name=name, time="0")
        if failure is not None:
            ET.SubElement(case, "failure", message=failure, type="regression").text = failure
            self.failures += 1
        self.cases.append(case)


def render_junit(report: Report) -> str:
    """One testcase per threshold check and per tested comparison row (the regression checks)."""
    cmp = report.comparison
    thresholds = _Suite("thresholds")
    for c in report.checks:
        op = ">=" if c.higher_is_better else "<="
        msg = None if c.passed else f"{c.scorer} = {fmt(c.value)}, required {op} {c.threshold}"
        thresholds.add(f"thresholds.{c.target}", f"{c.scorer} {op} {c.threshold}", msg)
    regressions = _Suite("regressions")
    for r in cmp.rows:
        if r.p_value is None:
            continue
        name = r.scorer if r.slice_key is None else f"{r.scorer} [{r.slice_key}={r.slice_value}]"
        msg = None
        if r.verdict is Verdict.REGRESSION:
            msg = (
                f"{name}: {fmt(r.baseline.mean)} -> {fmt(r.candidate.mean)}, change "
                f"{fmt(r.diff.mean, signed=True)} {fmt_ci(r.diff.low, r.diff.high, signed=True)}, "
                f"p adj. {fmt_p(r.p_adjusted)} (tolerance {r.tolerance})"
            )
        regressions.add(f"regressions.{cmp.candidate}", name, msg)
    root = ET.Element("testsuites", name=report.title)
    for suite in (thresholds, regressions):
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite.name,
            tests=str(len(suite.cases)),
            failures=str(suite.failures),
            errors="0",
        )
        el.extend(suite.cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- Files ----------------------------------------------------------------------------------------

_RENDERERS = {".md": render_markdown, ".html": render_html, ".json": render_json, ".xml": render_junit}


def write_report(report: Report, path: Path) -> Path:
    """Write one format, chosen by the file suffix (.md, .html, .json, .xml for JUnit)."""
    render = _RENDERERS.get(path.suffix.lower())
    if render is None:
        raise ValueError(f"unknown report format {path.suffix!r}: use one of {', '.join(_RENDERERS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path
