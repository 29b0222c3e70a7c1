"""Spend queries over the traces table, shared by the SQL backends (only the placeholder differs:
``?`` for SQLite, ``%s`` for psycopg). Money is summed as integer nano-USD, so totals are exact.

Traces carry key and team ids; budgets and reports name keys and teams, hence the joins.
``created_at`` is stored as UTC ISO-8601 text, which sorts in time order, so bounds compare as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pilothouse.core.ports import SpendGrouping, SpendScope

# scope -> (join, predicate on the name)
_SCOPES: dict[str, tuple[str, str]] = {
    "key": ("JOIN keys k ON k.key_id = t.key_id", "k.name = {p}"),
    "team": ("JOIN teams tm ON tm.team_id = t.team_id", "tm.name = {p}"),
    "route": ("", "t.route = {p}"),
}

# grouping -> (label expression, join)
_GROUPS: dict[str, tuple[str, str]] = {
    "team": ("COALESCE(tm.name, t.team_id)", "LEFT JOIN teams tm ON tm.team_id = t.team_id"),
    # Key names need not be unique: the display prefix tells two keys of one name apart.
    "key": (
        "COALESCE(k.name || ' (' || k.prefix || ')', t.key_id)",
        "LEFT JOIN keys k ON k.key_id = t.key_id",
    ),
    "route": ("t.route", ""),
    # The deployment that served (and was billed), else what was asked for (refused requests).
    "model": ("COALESCE(t.served_model, t.requested_model)", ""),
}


def iso(moment: datetime) -> str:
    """The stored form of a time bound (aware UTC ISO-8601); naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def spend_since_sql(scope: SpendScope, name: str, since: datetime, p: str = "?") -> tuple[str, list[Any]]:
    join, predicate = _SCOPES[scope]
    sql = (
        f"SELECT COALESCE(SUM(t.cost_nanousd), 0) FROM traces t {join} "
        f"WHERE {predicate.format(p=p)} AND t.created_at >= {p}"
    )
    return sql, [name, iso(since)]


def spend_report_sql(
    by: SpendGrouping, since: datetime | None, until: datetime | None, p: str = "?"
) -> tuple[str, list[Any]]:
    label, join = _GROUPS[by]
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append(f"t.created_at >= {p}")
        args.append(iso(since))
    if until is not None:
        where.append(f"t.created_at < {p}")
        args.append(iso(until))
    sql = (
        f"SELECT {label} AS grp, COUNT(*), COALESCE(SUM(t.prompt_tokens), 0), "
        f"COALESCE(SUM(t.completion_tokens), 0), COALESCE(SUM(t.cost_nanousd), 0) FROM traces t {join}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" GROUP BY {label} ORDER BY 5 DESC, 1"
    )
    return sql, args
