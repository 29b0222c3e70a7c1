"""``pilothouse eval run|list|show|compare|plan``: run suites through the gateway, gate releases, compare.

Exit codes of ``eval run``: 0 done (and the gate passed), 1 the gate failed (a threshold or a
significant regression), 2 a bad suite, config or option, 130 interrupted (resume it with
``--resume RUN_ID``, or just run the same command again: the newest unfinished run of an unchanged
suite is resumed automatically).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.cli.common import (
    ConfigOption,
    console,
    err_console,
    fail,
    open_config_store,
    resolve_config,
    run_with_store,
)
from pilothouse.cli.eval_gateway import local_gateway
from pilothouse.cli.eval_plan import plan
from pilothouse.cli.eval_views import (
    print_comparison,
    print_gate,
    print_gate_summary,
    print_run,
    print_runs,
    report_paths,
    write_gate_reports,
    write_one,
)
from pilothouse.core.config import Config
from pilothouse.core.errors import ConfigError, NotFound, PilothouseError
from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord
from pilothouse.evals.cache import model_fingerprints
from pilothouse.evals.compare_runs import PairingError, comparison_report, pair_targets, sides
from pilothouse.evals.progress import RichProgress
from pilothouse.evals.runner import RunOptions
from pilothouse.evals.session import GatewayAccess, RunReport, run_suite
from pilothouse.evals.suite import Suite, load_suite
from pilothouse.store import Store

app = typer.Typer(
    help="Run eval suites through the gateway, gate releases, compare runs.", no_args_is_help=True
)
app.command("plan")(plan)

ReportPath = Annotated[Path | None, typer.Option(help="write a report here")]
NANO = Decimal(1_000_000_000)


async def _with_gateway(
    config: Config, suite: Suite, options: RunOptions, base_url: str | None, key: str | None,
    baseline: str | None, started: list[EvalRunRecord],
) -> RunReport:  # fmt: skip
    def remember(run: EvalRunRecord, resumed: bool) -> None:
        started.append(run)
        verb = "Resuming" if resumed else "Starting"
        err_console.print(f"{verb} run [bold]{run.run_id}[/] ({len(run.targets)} targets, {run.total} items)")

    async def go(store: Store, access: GatewayAccess) -> RunReport:
        # The store holds the prompt registry too: it pins the suite's prompt references.
        return await run_suite(
            suite,
            store,
            store,
            access,
            options,
            prices={m.name: m for m in config.models},
            fingerprints=model_fingerprints(config),
            progress=RichProgress(err_console),
            baseline_run=baseline,
            on_prepared=remember,
        )

    if base_url is not None:
        assert key is not None
        store = open_config_store(config)
        await store.connect()
        try:
            return await go(store, GatewayAccess(base_url, key))
        finally:
            await store.aclose()
    async with local_gateway(config) as gateway:
        return await go(gateway.runtime.store, GatewayAccess(gateway.base_url, gateway.key))


def _cancel_on_sigterm() -> None:
    """A CI job stopped with SIGTERM saves its state like Ctrl-C does (then exits 130)."""
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


@app.command("run")
def run(
    suite_path: Annotated[Path, typer.Argument(metavar="SUITE", help="suite YAML file")],
    gate: Annotated[
        bool, typer.Option("--gate", help="exit 1 on a failed threshold or a regression")
    ] = False,
    resume: Annotated[str | None, typer.Option(help="continue this run")] = None,
    new: Annotated[bool, typer.Option("--new", help="start a new run even if one is unfinished")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="send every case again")] = False,
    repeat: Annotated[int | None, typer.Option(min=1, max=100, help="samples per case and target")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256)] = None,
    base_url: Annotated[
        str | None, typer.Option(help="a running gateway (default: start one in-process)")
    ] = None,
    key: Annotated[str | None, typer.Option(help="API key for --base-url")] = None,
    baseline: Annotated[str | None, typer.Option(help="compare against this run (same targets)")] = None,
    markdown: ReportPath = None,
    html: ReportPath = None,
    json: ReportPath = None,
    junit: ReportPath = None,
    config: ConfigOption = None,
) -> None:
    """Run a suite: every case x target x repeat through the gateway, scored, resumable and cached.

    Exit 0 when done (and the gate passed), 1 when the gate failed, 2 on a bad suite or option, 130
    when interrupted (run the same command again to resume)."""
    if base_url is not None and key is None:
        fail("--base-url needs --key", 2)
    cfg = resolve_config(config)
    try:
        suite = load_suite(suite_path)
    except ConfigError as exc:
        fail(exc.message, 2)
    options = RunOptions(
        gate=gate,
        use_cache=not no_cache,
        resume=resume,
        auto_resume=not new,
        repeat=repeat,
        concurrency=concurrency,
    )
    started: list[EvalRunRecord] = []

    async def main() -> RunReport:
        _cancel_on_sigterm()
        return await _with_gateway(cfg, suite, options, base_url, key, baseline, started)

    try:
        report = asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        where = f" --resume {started[0].run_id}" if started else ""
        err_console.print(
            f"[yellow]Interrupted.[/] Finished cases are saved: pilothouse eval run {suite_path}{where}"
        )
        raise typer.Exit(130) from None
    except ConfigError as exc:
        fail(exc.message, 2)
    except PilothouseError as exc:
        fail(exc.message)
    print_run(report.run, report.results)
    counts = report.counts
    console.print(
        f"{report.run.total} items: {counts.resumed} resumed, {counts.cached} from cache, {counts.sent} sent,"
        f" {counts.errors} errors; spend this time ${Decimal(counts.spend_nanousd) / NANO:.6f}",
        highlight=False,
    )
    for note in report.notes:
        console.print(f"[dim]note:[/] {note}")
    if report.gate is not None:
        print_gate(report.gate)
        paths = {"markdown": markdown, "html": html, "json": json, "junit": junit}
        write_gate_reports(report.gate, report.run, report.results, paths)
    raise typer.Exit(report.exit_code)


@app.command("list")
def list_runs(
    suite: Annotated[str | None, typer.Option(help="only this suite (its name)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    config: ConfigOption = None,
) -> None:
    """Eval runs, newest first."""
    runs = run_with_store(
        resolve_config(config), lambda store: store.list_eval_runs(suite=suite, limit=limit)
    )
    print_runs(runs)


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument()],
    cases: Annotated[bool, typer.Option("--cases", help="every case's output and scores")] = False,
    config: ConfigOption = None,
) -> None:
    """One run: scores per target and scorer, thresholds, the gate's verdict (and each case)."""
    record, results = run_with_store(resolve_config(config), lambda store: _load(store, run_id))
    print_run(record, results, cases=cases)
    gate = record.summary.get("gate")
    if gate:
        print_gate_summary(gate)


@app.command("compare")
def compare_runs(
    run_a: Annotated[str, typer.Argument(metavar="BASELINE_RUN")],
    run_b: Annotated[
        str | None, typer.Argument(metavar="[CANDIDATE_RUN]", help="default: the same run")
    ] = None,
    baseline_target: Annotated[
        str | None, typer.Option(help="target id or label on the baseline side")
    ] = None,
    candidate_target: Annotated[
        str | None, typer.Option(help="target id or label on the candidate side")
    ] = None,
    fail_on_regression: Annotated[bool, typer.Option(help="exit 1 if a regression is found")] = False,
    markdown: ReportPath = None,
    html: ReportPath = None,
    json: ReportPath = None,
    junit: ReportPath = None,
    config: ConfigOption = None,
) -> None:
    """Paired comparison per scorer and slice, with confidence intervals and corrected p-values."""

    async def load(store: Store) -> tuple[Loaded, Loaded]:
        a = await _load(store, run_a)
        return a, (a if run_b is None or run_b == run_a else await _load(store, run_b))

    a, b = run_with_store(resolve_config(config), load)
    try:
        pairs = pair_targets(a[0], b[0], baseline_target, candidate_target)
    except PairingError as exc:
        fail(str(exc), 2)
    regressions = 0
    paths = {"markdown": markdown, "html": html, "json": json, "junit": junit}
    for n, (base, cand) in enumerate(sides(a, b, pairs)):
        report = comparison_report(base, cand)
        print_comparison(report)
        regressions += len(report.comparison.regressions)
        for kind, path in report_paths(paths, n, len(pairs)):
            write_one(kind, report, path)
    raise typer.Exit(1 if fail_on_regression and regressions else 0)


Loaded = tuple[EvalRunRecord, list[EvalResultRecord]]


async def _load(store: Store, run_id: str) -> Loaded:
    record = await store.get_eval_run(run_id)
    if record is None:
        raise NotFound(f"no eval run {run_id}")
    return record, await store.eval_results(run_id)
