"""SQLite store (WAL): one writer thread for trace batches, one reader thread for lookups and the API."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from pilothouse.core.ids import new_id
from pilothouse.core.ports import SpendGrouping, SpendRow, SpendScope
from pilothouse.core.records import KeyRecord, SpanRecord, TraceRecord
from pilothouse.store.base import NANO, TRACE_FILTERS, trace_document
from pilothouse.store.database import ThreadedConnection
from pilothouse.store.migrations import migrate
from pilothouse.store.spend import spend_report_sql, spend_since_sql
from pilothouse.store.sqlite_evals import SQLiteEvals
from pilothouse.store.sqlite_prompts import SQLitePromptRepository


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _key_from_row(row: sqlite3.Row) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        name=row["name"],
        key_hash=row["key_hash"],
        prefix=row["prefix"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        scopes=orjson.loads(row["scopes"]),
        models=orjson.loads(row["models"]) if row["models"] is not None else None,
        tools=orjson.loads(row["tools"]) if row["tools"] is not None else None,
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=_dt(row["expires_at"]),
        revoked_at=_dt(row["revoked_at"]),
    )


_KEY_SELECT = "SELECT k.*, t.name AS team_name FROM keys k LEFT JOIN teams t ON t.team_id = k.team_id"


def _trace_row(r: TraceRecord) -> tuple[Any, ...]:
    return (
        r.trace_id,
        r.created_at.isoformat(),
        r.endpoint,
        r.key_id,
        r.team_id,
        r.requested_model,
        r.served_model,
        r.provider,
        int(r.stream),
        r.status,
        r.http_status,
        r.prompt_tokens,
        r.completion_tokens,
        r.cached_tokens,
        int((r.cost_usd * NANO).to_integral_value()),
        r.latency_ms,
        r.ttft_ms,
        r.error_code,
        r.config_hash,
        trace_document(r).decode(),
        r.route,
        r.cache,
        int((r.cost_saved_usd * NANO).to_integral_value()),
    )


class SQLiteStore(SQLiteEvals, SQLitePromptRepository):
    """Implements the ``KeyStore`` and ``TraceStore`` ports over one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer = ThreadedConnection(path, "sqlite-writer")
        self._writer.run_blocking(migrate)
        # An in-memory database exists per connection: share the writer's there.
        self._reader = self._writer if path == ":memory:" else ThreadedConnection(path, "sqlite-reader")

    async def connect(self) -> None:
        """Nothing to do: the constructor opened the file and migrated (the ``Store`` protocol's step)."""

    async def aclose(self) -> None:
        # Closing joins the connection threads, which wait for a write in progress: off the loop.
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        if self._reader is not self._writer:
            self._reader.close()
        self._writer.close()

    # --- traces -------------------------------------------------------------------------------
    async def write_traces(self, records: Sequence[TraceRecord]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            # Serialising happens here, on the writer thread, not on the event loop.
            rows = [_trace_row(r) for r in records]
            spans = [
                (
                    r.trace_id,
                    s.span_id,
                    s.name,
                    s.start_ms,
                    s.duration_ms,
                    s.status,
                    orjson.dumps(s.attributes).decode(),
                )
                for r in records
                for s in r.spans
            ]
            conn.execute("BEGIN")
            try:
                conn.executemany("INSERT OR REPLACE INTO traces VALUES (" + ",".join("?" * 23) + ")", rows)
                conn.executemany("INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?)", spans)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._writer.run(write)

    async def get_trace(self, trace_id: str) -> TraceRecord | None:
        def read(conn: sqlite3.Connection) -> tuple[Any, list[Any]] | None:
            row = conn.execute("SELECT record FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
            if row is None:
                return None
            spans = conn.execute(
                "SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ms, span_id", (trace_id,)
            ).fetchall()
            return row["record"], spans

        found = await self._reader.run(read)
        if found is None:
            return None
        record, span_rows = found
        data = orjson.loads(record)
        data["spans"] = [
            SpanRecord(
                span_id=s["span_id"],
                name=s["name"],
                start_ms=s["start_ms"],
                duration_ms=s["duration_ms"],
                status=s["status"],
                attributes=orjson.loads(s["attributes"]),
            )
            for s in span_rows
        ]
        return TraceRecord.model_validate(data)

    async def list_traces(
        self, *, limit: int = 50, before: str | None = None, filters: dict[str, Any] | None = None
    ) -> list[TraceRecord]:
        where: list[str] = []
        args: list[Any] = []
        if before:
            where.append("trace_id < ?")
            args.append(before)
        for name, value in (filters or {}).items():
            if value is None:
                continue
            if name not in TRACE_FILTERS:
                raise ValueError(f"unknown trace filter {name!r}")
            where.append(f"{TRACE_FILTERS[name]} = ?")
            args.append(value)
        sql = "SELECT record FROM traces"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY trace_id DESC LIMIT ?"
        args.append(limit)
        rows = await self._reader.run(lambda c: c.execute(sql, args).fetchall())
        return [TraceRecord.model_validate(orjson.loads(r["record"])) for r in rows]

    async def count_traces(self) -> int:
        row = await self._reader.run(lambda c: c.execute("SELECT count(*) FROM traces").fetchone())
        return int(row[0])

    # --- spend (the SpendStore port) ---------------------------------------------------------
    async def spend_since(self, scope: SpendScope, name: str, since: datetime) -> int:
        sql, args = spend_since_sql(scope, name, since)
        row = await self._reader.run(lambda c: c.execute(sql, args).fetchone())
        return int(row[0])

    async def spend_report(
        self, *, by: SpendGrouping, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRow]:
        sql, args = spend_report_sql(by, since, until)
        rows = await self._reader.run(lambda c: c.execute(sql, args).fetchall())
        return [SpendRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    # --- keys and teams ----------------------------------------------------------------------
    async def get_setting(self, key: str) -> str | None:
        row = await self._reader.run(
            lambda c: c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return str(row[0]) if row is not None else None

    async def put_setting(self, key: str, value: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        await self._writer.run(write)

    async def find_by_hash(self, key_hash: str) -> KeyRecord | None:
        row = await self._reader.run(
            lambda c: c.execute(_KEY_SELECT + " WHERE k.key_hash = ?", (key_hash,)).fetchone()
        )
        return _key_from_row(row) if row is not None else None

    async def create_key(
        self,
        *,
        name: str,
        key_hash: str,
        prefix: str,
        team: str | None,
        scopes: Sequence[str],
        models: Sequence[str] | None,
        expires_at: datetime | None,
        tools: Sequence[str] | None = None,
    ) -> KeyRecord:
        key_id = new_id()

        def write(conn: sqlite3.Connection) -> sqlite3.Row:
            conn.execute("BEGIN IMMEDIATE")
            try:
                team_id = None
                if team is not None:
                    found = conn.execute("SELECT team_id FROM teams WHERE name = ?", (team,)).fetchone()
                    team_id = found[0] if found else new_id()
                    if not found:
                        conn.execute("INSERT INTO teams VALUES (?, ?, ?)", (team_id, team, _now()))
                conn.execute(
                    "INSERT INTO keys (key_id, name, key_hash, prefix, team_id, scopes, models,"
                    " created_at, expires_at, revoked_at, tools) VALUES (?,?,?,?,?,?,?,?,?,NULL,?)",
                    (
                        key_id,
                        name,
                        key_hash,
                        prefix,
                        team_id,
                        orjson.dumps(list(scopes)).decode(),
                        orjson.dumps(list(models)).decode() if models is not None else None,
                        _now(),
                        expires_at.isoformat() if expires_at else None,
                        orjson.dumps(list(tools)).decode() if tools is not None else None,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            row: sqlite3.Row = conn.execute(_KEY_SELECT + " WHERE k.key_id = ?", (key_id,)).fetchone()
            return row

        return _key_from_row(await self._writer.run(write))

    async def list_keys(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        sql = _KEY_SELECT + ("" if include_revoked else " WHERE k.revoked_at IS NULL") + " ORDER BY k.key_id"
        rows = await self._reader.run(lambda c: c.execute(sql).fetchall())
        return [_key_from_row(r) for r in rows]

    async def revoke_key(self, key_id_or_prefix: str) -> KeyRecord | None:
        """Revoke by id or by display prefix; an ambiguous prefix revokes nothing."""

        def write(conn: sqlite3.Connection) -> sqlite3.Row | None:
            rows = conn.execute(
                _KEY_SELECT + " WHERE k.key_id = ? OR k.prefix = ?", (key_id_or_prefix, key_id_or_prefix)
            ).fetchall()
            if len(rows) != 1:
                return None
            key_id = rows[0]["key_id"]
            conn.execute(
                "UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?", (_now(), key_id)
            )
            row: sqlite3.Row = conn.execute(_KEY_SELECT + " WHERE k.key_id = ?", (key_id,)).fetchone()
            return row

        row = await self._writer.run(write)
        return _key_from_row(row) if row is not None else None
