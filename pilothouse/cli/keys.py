"""``pilothouse keys create|list|revoke``: work on the store directly, no server needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, resolve_config, run_with_store
from pilothouse.keys import KeyService

app = typer.Typer(help="Create, list and revoke virtual keys.", no_args_is_help=True)


def _expiry(days: float | None) -> datetime | None:
    return datetime.now(UTC) + timedelta(days=days) if days is not None else None


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="a label for the key")],
    team: Annotated[str | None, typer.Option(help="team the key belongs to (created if new)")] = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="repeatable; default chat, embeddings, models")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="repeatable; limit the key to these models")
    ] = None,
    tool: Annotated[
        list[str] | None,
        typer.Option("--tool", help="repeatable; tool calls outside these never reach the client"),
    ] = None,
    expires_in_days: Annotated[
        float | None, typer.Option(help="the key stops working after this many days")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Create a key. The secret is printed once and never stored."""
    secret, record = run_with_store(
        resolve_config(config),
        lambda store: KeyService(store).create(
            name,
            team=team,
            scopes=scope or ["chat", "embeddings", "models"],
            models=model,
            expires_at=_expiry(expires_in_days),
            tools=tool,
        ),
    )
    console.print(f"Created key [bold]{record.name}[/] ({record.key_id}).")
    console.print("Secret (shown once, store it now):")
    console.print(secret, highlight=False, soft_wrap=True)


@app.command("list")
def list_keys(
    all_: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
    config: ConfigOption = None,
) -> None:
    """List keys (prefixes only; secrets are never stored)."""
    records = run_with_store(
        resolve_config(config), lambda store: KeyService(store).list(include_revoked=all_)
    )
    table = Table(
        "id", "name", "prefix", "team", "scopes", "models", "tools", "created", "expires", "revoked"
    )
    for r in records:
        table.add_row(
            r.key_id,
            r.name,
            r.prefix + "…",
            r.team_name or "",
            ",".join(r.scopes),
            ",".join(r.models) if r.models is not None else "all",
            ",".join(r.tools) if r.tools is not None else "all",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            r.expires_at.strftime("%Y-%m-%d %H:%M") if r.expires_at else "",
            r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="key id or display prefix")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key. Running gateways stop accepting it within their key cache TTL (10 s)."""
    # A key that matches nothing (or an ambiguous prefix) is NotFound: printed, exit 1.
    record = run_with_store(resolve_config(config), lambda store: KeyService(store).revoke(key))
    console.print(f"Revoked key [bold]{record.name}[/] ({record.key_id}).")
