"""``pilothouse traces list|show``: read traces from the store."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, fail, resolve_config, run_with_store
from pilothouse.core.records import TraceRecord

app = typer.Typer(help="Browse request traces.", no_args_is_help=True)


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


@app.command("list")
def list_traces(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    model: Annotated[str | None, typer.Option(help="requested model")] = None,
    key: Annotated[str | None, typer.Option(help="key id")] = None,
    team: Annotated[str | None, typer.Option(help="team id")] = None,
    status: Annotated[str | None, typer.Option(help="ok or error")] = None,
    config: ConfigOption = None,
) -> None:
    """The newest traces first."""
    filters = {"model": model, "key_id": key, "team_id": team, "status": status}
    records = run_with_store(
        resolve_config(config), lambda store: store.list_traces(limit=limit, filters=filters)
    )
    table = Table(
        "trace id", "time (UTC)", "endpoint", "model", "status", "tokens in/out", "cost $", "ms", "ttft ms"
    )
    for r in records:
        table.add_row(
            r.trace_id,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.endpoint,
            r.requested_model or "",
            "ok" if r.status == "ok" else f"[red]{r.http_status} {r.error_code}[/]",
            f"{r.prompt_tokens}/{r.completion_tokens}",
            f"{r.cost_usd:.6f}",
            _ms(r.latency_ms),
            _ms(r.ttft_ms),
        )
    console.print(table)


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def render_trace(record: TraceRecord) -> None:
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for name, value in [
        ("trace", record.trace_id),
        ("time (UTC)", record.created_at.isoformat()),
        ("endpoint", record.endpoint),
        ("key / team", f"{record.key_id or '-'} / {record.team_id or '-'}"),
        ("model", f"{record.requested_model} -> {record.served_model} via {record.provider}"),
        (
            "status",
            f"{record.status} (HTTP {record.http_status})"
            + (f": {record.error_code}: {record.error_message}" if record.error_code else ""),
        ),
        (
            "tokens",
            f"{record.prompt_tokens} in, {record.completion_tokens} out, {record.cached_tokens} cached",
        ),
        ("cost", f"${record.cost_usd:.8f}"),
        (
            "latency",
            f"{record.latency_ms:.1f} ms"
            + (f", first token {record.ttft_ms:.1f} ms" if record.ttft_ms else ""),
        ),
        ("stream", str(record.stream)),
        ("finish", record.finish_reason or ""),
        (
            "prompt",
            f"{record.prompt}@{record.prompt_version}"
            + (f" (via label {record.prompt_label})" if record.prompt_label else "")
            if record.prompt
            else "",
        ),
        ("params", orjson.dumps(record.params).decode()),
        ("config", record.config_hash or ""),
    ]:
        fields.add_row(name, value)
    console.print(fields)
    spans = Table("span", "start ms", "duration ms", "status", "attributes", title="spans")
    for s in record.spans:
        spans.add_row(
            s.name, f"{s.start_ms:.2f}", f"{s.duration_ms:.2f}", s.status, orjson.dumps(s.attributes).decode()
        )
    console.print(spans)
    if record.messages is not None:
        console.rule("messages")
        console.print(_pretty(record.messages), highlight=False)
    if record.output is not None:
        console.rule("output")
        console.print(_pretty(record.output), highlight=False)


@app.command("show")
def show(trace_id: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """One trace with its spans, messages and output."""
    record = run_with_store(resolve_config(config), lambda store: store.get_trace(trace_id))
    if record is None:
        fail(f"no trace with id {trace_id}")
    render_trace(record)
