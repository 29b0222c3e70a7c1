"""``pilothouse spend``: spend, requests and tokens by team, key, route or model for a period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, cast

import orjson
import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, fail, resolve_config, run_with_store
from pilothouse.core.ports import SpendGrouping, SpendRow
from pilothouse.limits import period_bounds
from pilothouse.limits.periods import Period

NANO = Decimal(1_000_000_000)


class PeriodChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


class GroupChoice(StrEnum):
    team = "team"
    key = "key"
    route = "route"
    model = "model"


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: expected an ISO date or time such as 2025-01-31 or 2025-01-31T12:00, got {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _usd(nanos: int, places: int = 6) -> str:
    return f"{Decimal(nanos) / NANO:.{places}f}"


def spend(
    period: Annotated[
        PeriodChoice, typer.Option(help="the current UTC day, ISO week or month, or all time")
    ] = PeriodChoice.month,
    since: Annotated[str | None, typer.Option(help="start (ISO, UTC); overrides --period")] = None,
    until: Annotated[str | None, typer.Option(help="end, exclusive (ISO, UTC)")] = None,
    by: Annotated[GroupChoice, typer.Option(help="group by")] = GroupChoice.team,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    config: ConfigOption = None,
) -> None:
    """Spend from the stored traces (exact to the nano-dollar); requests count refused ones too."""
    start = _moment(since, "--since")
    end = _moment(until, "--until")
    if start is None and period is not PeriodChoice.all:
        start = period_bounds(cast(Period, period.value), datetime.now(UTC))[0]
    cfg = resolve_config(config)
    grouping: SpendGrouping = by.value
    rows: list[SpendRow] = run_with_store(
        cfg, lambda store: store.spend_report(by=grouping, since=start, until=end)
    )
    if as_json:
        out = [
            {
                by.value: r.group,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost_usd": _usd(r.cost_nanousd, 9),  # exact
            }
            for r in rows
        ]
        typer.echo(orjson.dumps(out).decode())
        return
    window = f"{start:%Y-%m-%d %H:%M} UTC" if start else "the beginning"
    window += f" to {end:%Y-%m-%d %H:%M} UTC" if end else " to now"
    table = Table(
        by.value,
        "requests",
        "tokens in",
        "tokens out",
        "cost $",
        "share",
        title=f"Spend by {by.value}, {window}",
        show_footer=True,
    )
    total = sum(r.cost_nanousd for r in rows)
    for r in rows:
        share = f"{100 * r.cost_nanousd / total:.1f}%" if total else ""
        table.add_row(
            r.group or "-",
            str(r.requests),
            str(r.prompt_tokens),
            str(r.completion_tokens),
            _usd(r.cost_nanousd),
            share,
        )
    for column, value in zip(
        table.columns,
        [
            "total",
            str(sum(r.requests for r in rows)),
            str(sum(r.prompt_tokens for r in rows)),
            str(sum(r.completion_tokens for r in rows)),
            _usd(total),
            "",
        ],
        strict=True,
    ):
        column.footer = value
    console.print(table)
