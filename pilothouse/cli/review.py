"""``pilothouse review sample|next|label|list|agreement``: the human review queue and judge calibration."""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, fail, resolve_config, run_with_store
from pilothouse.core.errors import NotFound
from pilothouse.core.eval_records import ReviewItemRecord
from pilothouse.core.records import TraceRecord
from pilothouse.evals.review import (
    cohen_kappa,
    confusion,
    items_from_results,
    items_from_traces,
    kappa_strength,
    labelled_pairs,
    sample_results,
)
from pilothouse.store import Store

app = typer.Typer(
    help="Human review of eval cases and production traces; judge calibration.", no_args_is_help=True
)

TRACE_SCAN_LIMIT = 5000  # newest traces considered when sampling production traffic
_SPAN = re.compile(r"^(\d+)([mhd])$")


def parse_since(value: str) -> datetime:
    """``30m``, ``24h``, ``7d`` ago, or an ISO-8601 time (UTC when no zone is given)."""
    match = _SPAN.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[
            unit
        ]
        return datetime.now(UTC) - delta
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not like 24h, 7d or an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _recent_traces(store: Store, since: datetime) -> list[TraceRecord]:
    found: list[TraceRecord] = []
    before: str | None = None
    while len(found) < TRACE_SCAN_LIMIT:
        page = await store.list_traces(limit=500, before=before)
        if not page:
            break
        found += [t for t in page if t.created_at >= since]
        if page[-1].created_at < since:
            break
        before = page[-1].trace_id
    return found


@app.command("sample")
def sample(
    run: Annotated[str | None, typer.Option(help="sample cases of this eval run")] = None,
    traces: Annotated[bool, typer.Option("--traces", help="sample production traces instead")] = False,
    since: Annotated[str, typer.Option(help="with --traces: how far back (24h, 7d, ISO time)")] = "24h",
    n: Annotated[int, typer.Option("--n", min=1, max=10_000, help="how many items")] = 20,
    scorer: Annotated[
        str | None, typer.Option(help="balance the sample between this scorer's passes and fails")
    ] = None,
    seed: Annotated[int, typer.Option(help="sampling seed (the same seed picks the same items)")] = 0,
    config: ConfigOption = None,
) -> None:
    """Put a random sample into the review queue (items already queued are skipped)."""
    if (run is None) == (not traces):
        fail("give either --run RUN_ID or --traces", 2)
    start = parse_since(since)

    async def work(store: Store) -> tuple[int, int]:
        items: list[ReviewItemRecord]
        if run is not None:
            record = await store.get_eval_run(run)
            if record is None:
                raise NotFound(f"no eval run {run}")
            picked = sample_results(await store.eval_results(run), n, seed=seed, scorer=scorer)
            items = items_from_results(record, picked)
        else:
            items = items_from_traces(await _recent_traces(store, start), n, seed=seed)
        return len(items), await store.add_review_items(items)

    picked, added = run_with_store(resolve_config(config), work)
    console.print(f"Sampled {picked} item(s); {added} new in the review queue. Next: pilothouse review next")


def _show(item: ReviewItemRecord) -> None:
    p: dict[str, Any] = item.payload
    console.rule(f"review item {item.item_id}")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    source = f"run {item.run_id}, case {item.case_id}" if item.source == "run" else "production trace"
    for name, value in [
        ("source", source),
        ("target", str(p.get("target") or "")),
        ("trace", item.trace_id or ""),
        ("label", f"{item.label} ({item.reviewer}): {item.comment or ''}" if item.label else "(none yet)"),
    ]:
        grid.add_row(name, value)
    console.print(grid)
    for part in ("input", "output", "expected"):
        shown = p.get(part)
        if shown is not None and shown != "":
            console.rule(part, style="dim")
            console.print(shown if isinstance(shown, str) else orjson.dumps(shown).decode(), highlight=False)
    console.print(f"\nLabel it: pilothouse review label {item.item_id} pass|fail --comment '...'")


@app.command("next")
def next_item(config: ConfigOption = None) -> None:
    """The oldest unlabelled item (shown without any judge verdict: label it blind)."""
    item = run_with_store(resolve_config(config), lambda store: store.next_review_item())
    if item is None:
        console.print("The review queue is empty.")
        return
    _show(item)


@app.command("label")
def label(
    item_id: Annotated[str, typer.Argument()],
    verdict: Annotated[str, typer.Argument(metavar="pass|fail")],
    comment: Annotated[str | None, typer.Option(help="why")] = None,
    reviewer: Annotated[str | None, typer.Option(help="who (default: the OS user)")] = None,
    config: ConfigOption = None,
) -> None:
    """Label one item pass or fail (labelling again replaces the label)."""
    if verdict not in ("pass", "fail"):
        fail("the label is pass or fail", 2)
    chosen: Literal["pass", "fail"] = "pass" if verdict == "pass" else "fail"
    who = reviewer or getpass.getuser()
    item = run_with_store(
        resolve_config(config),
        lambda store: store.label_review_item(item_id, label=chosen, comment=comment, reviewer=who),
    )
    if item is None:
        fail(f"no review item {item_id}")
    console.print(f"Labelled {item.item_id} [bold]{chosen}[/].")


@app.command("list")
def list_items(
    run: Annotated[str | None, typer.Option(help="items of this eval run")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="only unlabelled items")] = False,
    config: ConfigOption = None,
) -> None:
    """Review items, oldest first."""
    items = run_with_store(
        resolve_config(config),
        lambda store: store.list_review_items(run_id=run, labelled=False if pending else None),
    )
    table = Table("item", "source", "case / trace", "target", "label", "reviewer", "comment")
    for i in items:
        table.add_row(
            i.item_id, i.source, i.case_id or i.trace_id or "", str(i.payload.get("target") or ""),
            i.label or "", i.reviewer or "", i.comment or "",
        )  # fmt: skip
    console.print(table)


@app.command("agreement")
def agreement(
    run: Annotated[str, typer.Option(help="the eval run whose judge is calibrated")],
    scorer: Annotated[str, typer.Option(help="the judge scorer's name in the suite")] = "judge",
    config: ConfigOption = None,
) -> None:
    """Cohen's kappa and the confusion matrix between the judge's pass/fail and the human labels."""

    async def work(store: Store) -> list[tuple[bool, bool]]:
        items = await store.list_review_items(run_id=run, labelled=True)
        return labelled_pairs(items, await store.eval_results(run), scorer)

    pairs = run_with_store(resolve_config(config), work)
    if not pairs:
        fail(f"no labelled items of run {run} that scorer {scorer!r} judged pass/fail")
    matrix = confusion(pairs)
    table = Table("", "human pass", "human fail", title=f"{scorer} vs human labels (n={matrix.n})")
    table.add_row("judge pass", str(matrix.judge_pass_human_pass), str(matrix.judge_pass_human_fail))
    table.add_row("judge fail", str(matrix.judge_fail_human_pass), str(matrix.judge_fail_human_fail))
    console.print(table)
    kappa = cohen_kappa(matrix)
    shown = "undefined" if kappa is None else f"{kappa:.3f}"
    console.print(
        f"observed agreement {matrix.observed_agreement:.3f}, chance agreement {matrix.chance_agreement:.3f},"
        f" Cohen's kappa {shown} ({kappa_strength(kappa)})",
        highlight=False,
    )
