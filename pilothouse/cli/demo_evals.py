"""The evaluation part of ``pilothouse demo``: two versions of a support-reply prompt, the demo suite
run against the model through the demo's own gateway, and the paired comparison of the two.

Steps, each the same as a user would take by hand (``examples/support/README.md``):

1. register version 1 (``prompts-v1/``) and label it ``production``; that move is forced with a
   recorded reason, since no gated run vouches for a first draft;
2. register version 2 (``prompts/``);
3. run the suite gated: every case goes to version 2 and to the ``production`` version, through the
   gateway (each case has a trace), cached so a second demo costs nothing;
4. print the comparison (the all-cases rows and any significant slice), and write HTML and Markdown
   reports.

Re-running the demo reuses the versions already stored (matched by content hash), so the registry
does not grow a version per demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.table import Table

from pilothouse.bootstrap import Runtime, build_prompt_registry
from pilothouse.cli.common import console, err_console
from pilothouse.core.errors import PilothouseError
from pilothouse.evals.cache import model_fingerprints
from pilothouse.evals.compare_runs import Side, comparison_report
from pilothouse.evals.progress import RichProgress
from pilothouse.evals.report import Report, write_report
from pilothouse.evals.report_types import fmt, fmt_ci, fmt_p, slice_name
from pilothouse.evals.runner import RunOptions
from pilothouse.evals.session import GatewayAccess, RunReport, run_suite
from pilothouse.evals.stats import Comparison, Verdict
from pilothouse.evals.suite import parse_suite
from pilothouse.prompts import PromptRegistry
from pilothouse.prompts.files import load_dir

PROMPT = "support-reply"
SUITE = Path("evals") / "support-reply.yaml"


def support_example() -> Path | None:
    """``examples/support`` of the working directory, else of the source checkout this runs from
    (examples stay out of the installed package)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        folder = root / "examples" / "support"
        if (folder / SUITE).is_file():
            return folder
    return None


async def _stored_version(registry: PromptRegistry, folder: Path, why: str) -> int:
    """The version holding this file's content: an existing one, else a newly pushed one."""
    [spec] = [s for _, s in load_dir(folder) if s.name == PROMPT]
    digest = spec.content_hash()
    if any(p.name == PROMPT for p in await registry.list_prompts()):
        for version in await registry.versions(PROMPT):
            if version.record.content_hash == digest:
                return version.version
    return (await registry.push(spec, who="demo", why=why)).version.version


# Short verdicts so the table fits an 80-100 column terminal (the reports spell them out).
_SHORT = {
    Verdict.REGRESSION: "▼ regression",
    Verdict.IMPROVEMENT: "▲ better",
    Verdict.WITHIN_TOLERANCE: "≈ within tol.",
    Verdict.NO_CHANGE: "n.s.",
    Verdict.UNTESTED: "too few",
}


def _n(cmp: Comparison) -> str:
    sizes = sorted({r.n for r in cmp.rows if r.slice_key is None})
    return "/".join(str(n) for n in sizes)


def _print(report: Report) -> None:
    cmp = report.comparison
    console.print(f"[bold]baseline[/]  {cmp.baseline}\n[bold]candidate[/] {cmp.candidate}", highlight=False)
    # Sized for an 80-column terminal: n shows on slice rows only (all-cases rows use every case).
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption=f"all-cases rows: n = {_n(cmp)}")
    table.add_column("scorer", no_wrap=True)
    for name in ("v1 → v2", "change [95% CI]", "p adj."):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    # All-cases rows, each followed by its significant slices only: 80 slice rows would drown it.
    shown = [r for r in cmp.rows if r.slice_key is None or r.significant]
    for row in shown:
        table.add_row(
            row.scorer if row.slice_key is None else f"  {slice_name(row)} ({row.n})",
            f"{fmt(row.baseline.mean)}→{fmt(row.candidate.mean)}",
            f"{fmt(row.diff.mean, True)} {fmt_ci(row.diff.low, row.diff.high, True)}",
            fmt_p(row.p_adjusted),
            _SHORT[row.verdict],
            style={"regression": "red", "improvement": "green"}.get(row.verdict.value),
        )
    console.print(table)
    hidden = sum(1 for r in cmp.rows if r.slice_key is not None) - sum(1 for r in shown if r.slice_key)
    console.print(
        f"[dim]p adj.: {cmp.options.correction}-corrected; n.s.: no significant change. {hidden} slice rows"
        " without a significant change are in the reports.[/]"
    )
    for check in report.checks:
        if not check.passed:
            console.print(f"[red]threshold[/] {check.scorer}: {fmt(check.value)} < {check.threshold}")


async def run_demo_evals(runtime: Runtime, base_url: str, key: str, reports: Path) -> RunReport | None:
    """Push both versions, run the gated suite through the gateway at ``base_url``, print and write
    the comparison. ``None`` when the example suite is not at hand (an installed package) or the
    run failed: the demo goes on serving either way."""
    folder = support_example()
    if folder is None:
        console.print(
            "[dim]examples/support not found (it ships with a source checkout): eval demo skipped.[/]"
        )
        return None
    try:
        return await _run(runtime, base_url, key, reports, folder)
    except PilothouseError as exc:
        err_console.print(f"[yellow]eval demo stopped:[/] {exc.message}", highlight=False)
        return None


async def _run(runtime: Runtime, base_url: str, key: str, reports: Path, folder: Path) -> RunReport:
    registry = runtime.registry or build_prompt_registry(runtime.store)
    v1 = await _stored_version(registry, folder / "prompts-v1", "demo: the first draft")
    await registry.promote(
        PROMPT, v1, "production", who="demo", why="demo: the first draft is the released baseline", force=True
    )
    v2 = await _stored_version(
        registry, folder / "prompts", "demo: facts next to the question, short replies"
    )
    data: dict[str, Any] = yaml.safe_load((folder / SUITE).read_text())
    data["prompts"] = [f"{PROMPT}@{v2}"]  # pinned: another version pushed meanwhile must not slip in
    suite = parse_suite(data, path=folder / SUITE)
    console.print(
        f"Evaluating {PROMPT} v{v2} against production (v{v1}) on {len(suite.cases)} cases"
        " (cached after the first run)..."
    )
    result = await run_suite(
        suite,
        runtime.store,
        runtime.store,
        GatewayAccess(base_url, key),
        RunOptions(gate=True),
        prices={m.name: m for m in runtime.config.models},
        fingerprints=model_fingerprints(runtime.config),
        progress=RichProgress(err_console),
    )
    gate = result.gate.targets[0] if result.gate is not None and result.gate.targets else None
    base = next((t for t in result.run.targets if gate and t.target_id == gate.baseline_target), None)
    if gate is None or base is None:
        console.print("[yellow]No paired baseline in this run; see `pilothouse eval show`.[/]")
        return result
    mine = [r for r in result.results if r.target_id == gate.target.target_id]
    theirs = [r for r in result.results if r.target_id == base.target_id]
    report = comparison_report(Side(result.run, base, theirs), Side(result.run, gate.target, mine))
    _print(report)
    written = [write_report(report, reports / f"{PROMPT}{suffix}") for suffix in (".html", ".md")]
    console.print(f"Reports: {', '.join(str(p) for p in written)}", highlight=False)
    if gate.passed:
        console.print(
            f"[green]Gate passed.[/] Release it: pilothouse prompts promote {PROMPT} {v2}",
            highlight=False,
        )
    else:
        console.print(f"[red]Gate failed:[/] production stays on v{v1}.", highlight=False)
    return result
