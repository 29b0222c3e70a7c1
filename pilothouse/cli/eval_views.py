"""Tables and report files for ``pilothouse eval``: runs, per-target scores, gate verdicts, comparisons."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.table import Table

from pilothouse.cli.common import console
from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord
from pilothouse.evals.compare_runs import Side, comparison_report, suite_config
from pilothouse.evals.gate import GateOutcome, TargetGate, score_table
from pilothouse.evals.report import Report, render_html, render_json, render_junit, render_markdown
from pilothouse.evals.report_types import fmt, fmt_ci, fmt_p, marker, slice_name
from pilothouse.evals.stats import CompareOptions, Comparison

NANO = Decimal(1_000_000_000)
RENDERERS: dict[str, Callable[[Report], str]] = {
    "markdown": render_markdown,
    "html": render_html,
    "json": render_json,
    "junit": render_junit,
}


def _usd(nanos: int) -> str:
    return f"${Decimal(nanos) / NANO:.6f}"


def print_runs(runs: Sequence[EvalRunRecord]) -> None:
    table = Table("run id", "suite", "created (UTC)", "status", "targets", "items", "gate", "spend")
    for r in runs:
        gate = (
            "-"
            if not r.gate
            else {True: "[green]passed[/]", False: "[red]failed[/]", None: "?"}[r.gate_passed]
        )
        table.add_row(
            r.run_id,
            r.suite,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            str(len(r.targets)),
            str(r.total),
            gate,
            _usd(int(r.summary.get("spend_nanousd", 0))),
        )
    console.print(table)


def print_run(run: EvalRunRecord, results: Sequence[EvalResultRecord], *, cases: bool = False) -> None:
    config = suite_config(run)
    thresholds = {s.name: s.threshold for s in config.scorers} if config is not None else {}
    table = Table(
        "target", "scorer", "n", "mean", "pass rate", "threshold", title=f"{run.suite} · run {run.run_id}"
    )
    for row in score_table(run, results):
        threshold = thresholds.get(row["scorer"])
        mark = ""
        if threshold is not None and row["role"] == "candidate":
            mark = "[green]ok[/]" if row["mean"] >= threshold else "[red]below[/]"
        table.add_row(
            row["label"] + (" [dim](baseline)[/]" if row["role"] == "baseline" else ""),
            row["scorer"],
            str(row["n"]),
            fmt(row["mean"]),
            "" if row["pass_rate"] is None else f"{row['pass_rate']:.0%}",
            "" if threshold is None else f"{fmt(threshold)} {mark}",
        )
    console.print(table)
    for row in score_table(run, results):
        if row["judge_sd"] is not None:
            console.print(
                f"[dim]{row['label']} · {row['scorer']}: repeated judgements of one output differ by"
                f" SD {fmt(row['judge_sd'])} (the judge's own noise)[/]",
                highlight=False,
            )
    if cases:
        _print_cases(run, results)


def _print_cases(run: EvalRunRecord, results: Sequence[EvalResultRecord]) -> None:
    labels = {t.target_id: t.label for t in run.targets}
    table = Table("case", "target", "rep", "output", "scores", "trace", title="cases")
    for r in results:
        text = r.error or str(r.output.get("text", ""))
        scores = ", ".join(f"{s.scorer}={fmt(s.value)}" for s in r.scores)
        table.add_row(
            r.case_id,
            labels.get(r.target_id, r.target_id),
            str(r.repeat),
            text[:80],
            scores,
            r.trace_id or "",
        )
    console.print(table)


def print_gate(outcome: GateOutcome) -> None:
    print_gate_summary(outcome.summary())


def print_gate_summary(gate: Mapping[str, Any]) -> None:
    for target in gate.get("targets", []):
        verdict = "[green]PASS[/]" if target["passed"] else "[red]FAIL[/]"
        against = f" vs {target['baseline']}" if target.get("baseline") else " (thresholds only)"
        console.print(f"gate {verdict} {target['label']}{against}", highlight=False)
        for check in target.get("checks", []):
            if not check["passed"]:
                mean, threshold = fmt(check["mean"]), fmt(check["threshold"])
                console.print(
                    f"  [red]threshold[/] {check['scorer']}: mean {mean} < {threshold}", highlight=False
                )
        for reg in target.get("regressions", []):
            where = f" ({reg['slice']})" if reg.get("slice") else ""
            console.print(
                f"  [red]regression[/] {reg['scorer']}{where}: {fmt(reg['diff'], True)}"
                f" {fmt_ci(reg['ci'][0], reg['ci'][1], True)}, p adj {fmt_p(reg['p_adjusted'])}",
                highlight=False,
            )
    console.print("[bold green]Gate passed.[/]" if gate.get("passed") else "[bold red]Gate failed.[/]")


def print_comparison(report: Report) -> None:
    c = report.comparison
    table = Table(
        "scorer", "slice", "n", "baseline", "candidate", "diff [95% CI]", "p adj", "verdict",
        title=f"{c.baseline} -> {c.candidate}",
    )  # fmt: skip
    for row in c.rows:
        table.add_row(
            row.scorer,
            slice_name(row),
            str(row.n),
            fmt(row.baseline.mean),
            fmt(row.candidate.mean),
            f"{fmt(row.diff.mean, True)} {fmt_ci(row.diff.low, row.diff.high, True)}",
            fmt_p(row.p_adjusted),
            marker(row.verdict),
        )
    console.print(table)
    for check in report.checks:
        if not check.passed:
            console.print(f"[red]threshold[/] {check.scorer}: {fmt(check.value)} < {fmt(check.threshold)}")


def report_paths(paths: Mapping[str, Path | None], index: int, total: int) -> list[tuple[str, Path]]:
    """(format, path) to write; with several comparisons, ``name-2.md`` and so on after the first."""
    out = []
    for kind, path in paths.items():
        if path is None:
            continue
        if total > 1 and index > 0:
            path = path.with_name(f"{path.stem}-{index + 1}{path.suffix}")
        out.append((kind, path))
    return out


def write_one(kind: str, report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RENDERERS[kind](report), encoding="utf-8")
    console.print(f"[dim]wrote {path}[/]")


def _gate_report(gate: TargetGate, run: EvalRunRecord, results: Sequence[EvalResultRecord]) -> Report:
    base = next((t for t in run.targets if t.target_id == gate.baseline_target), None)
    if gate.comparison is not None and base is not None:  # the baseline ran in this run: show every case
        mine = [r for r in results if r.target_id == gate.target.target_id]
        theirs = [r for r in results if r.target_id == base.target_id]
        return comparison_report(Side(run, base, theirs), Side(run, gate.target, mine))
    comparison = gate.comparison or Comparison(
        baseline="(none)", candidate=gate.target.label, options=CompareOptions(), rows=[], noise={},
        only_baseline=0, only_candidate=0,
    )  # fmt: skip
    return Report(
        title=f"{run.suite}: {gate.target.label}",
        comparison=comparison,
        checks=gate.checks,
        meta={"suite": run.suite, "candidate run": run.run_id, "baseline": gate.baseline or "(none)"},
    )


def write_gate_reports(
    outcome: GateOutcome,
    run: EvalRunRecord,
    results: Sequence[EvalResultRecord],
    paths: Mapping[str, Path | None],
) -> None:
    for n, gate in enumerate(outcome.targets):
        report = _gate_report(gate, run, results)
        for kind, path in report_paths(paths, n, len(outcome.targets)):
            write_one(kind, report, path)
