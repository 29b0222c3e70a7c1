"""PostgreSQL store: the SQLite store's repositories over a pool of async psycopg connections.

Any number of gateway replicas can share one database. Semantics match ``SQLiteStore`` exactly
(upserted trace batches, newest-first paging by id, the key-prefix ambiguity rule); the shared
contract tests in ``tests/store_contract.py`` run against both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, dict_row, tuple_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pilothouse.core.errors import ServiceUnavailable
from pilothouse.core.ids import new_id
from pilothouse.core.ports import SpendGrouping, SpendRow, SpendScope
from pilothouse.core.records import KeyRecord, SpanRecord, TraceRecord
from pilothouse.store.base import TRACE_FILTERS, to_nanos, trace_document
from pilothouse.store.pg_migrations import migrate
from pilothouse.store.pg_prompts import PostgresPromptRepository
from pilothouse.store.postgres_evals import PostgresEvals
from pilothouse.store.spend import spend_report_sql, spend_since_sql

Conn = AsyncConnection[DictRow]

CONNECT_TIMEOUT_S = 10

TRACE_COLUMNS = (
    "trace_id", "created_at", "endpoint", "key_id", "team_id", "requested_model", "served_model",
    "provider", "stream", "status", "http_status", "prompt_tokens", "completion_tokens",
    "cached_tokens", "cost_nanousd", "latency_ms", "ttft_ms", "error_code", "config_hash", "record",
    "route", "cache", "cost_saved_nanousd",
)  # fmt: skip
SPAN_COLUMNS = ("trace_id", "span_id", "name", "start_ms", "duration_ms", "status", "attributes")


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> sql.Composed:
    """``INSERT ... ON CONFLICT DO UPDATE``: a retried batch overwrites, as SQLite's INSERT OR REPLACE."""
    ident = [sql.Identifier(c) for c in columns]
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(ident),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.SQL(", ").join(sql.Identifier(c) for c in key),
        sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns if c not in key
        ),
    )


UPSERT_TRACE = _upsert("traces", TRACE_COLUMNS, ["trace_id"])
UPSERT_SPAN = _upsert("spans", SPAN_COLUMNS, ["trace_id", "span_id"])
KEY_SELECT = "SELECT k.*, t.name AS team_name FROM keys k LEFT JOIN teams t ON t.team_id = k.team_id"

# PostgreSQL text and JSONB cannot hold U+0000, and request bodies may contain it (SQLite stores it).
# It becomes U+FFFD, as a decoder does with a bad byte, so one odd request cannot fail a trace batch.
# In JSON text it is the escape \u0000, unless that backslash is itself escaped.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _text(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _json(value: Any) -> str:
    return _jsonb_text(orjson.dumps(value).decode())


def _jsonb_text(text: str) -> str:
    return _JSON_NUL.sub(r"\1\\ufffd", text) if "\\u0000" in text else text


def redact_url(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _trace_row(r: TraceRecord) -> tuple[Any, ...]:
    row = (
        r.trace_id, r.created_at, r.endpoint, r.key_id, r.team_id, r.requested_model, r.served_model,
        r.provider, r.stream, r.status, r.http_status, r.prompt_tokens, r.completion_tokens,
        r.cached_tokens, to_nanos(r.cost_usd), r.latency_ms, r.ttft_ms, r.error_code, r.config_hash,
        _jsonb_text(trace_document(r).decode()), r.route, r.cache, to_nanos(r.cost_saved_usd),
    )  # fmt: skip
    return tuple(_text(v) for v in row)


def _key_from_row(row: DictRow) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        name=row["name"],
        key_hash=row["key_hash"],
        prefix=row["prefix"],
        team_id=row["team_id"],
        team_name=row["team_name"],
        scopes=row["scopes"],
        models=row["models"],
        tools=row["tools"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def _configure(conn: Conn) -> None:
    # Timestamps come back in UTC whatever the server's zone (SPEC: time in UTC), and JSONB is
    # parsed by orjson rather than the stdlib.
    set_json_loads(orjson.loads, conn)
    await conn.execute("SET TIME ZONE 'UTC'")


class PostgresStore(PostgresEvals, PostgresPromptRepository):
    """Implements the ``KeyStore``, ``TraceStore`` and ``SpendStore`` ports over one PostgreSQL database."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: AsyncConnectionPool[Conn] | None = None

    async def connect(self) -> None:
        """Migrate, then open the pool; in the event loop that will use the store."""
        if self._pool is not None:
            return
        try:
            # One direct connection first: it fails fast with libpq's own reason (refused, no such
            # database, bad password) where a pool would retry until its timeout.
            async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as conn:
                await migrate(conn)
            pool = AsyncConnectionPool(
                self.url,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                open=False,
                connection_class=Conn,
                kwargs={"autocommit": True, "row_factory": dict_row},
                configure=_configure,
                # A checkout probes the connection (one round trip), so a restarted or failed-over
                # server costs reconnects, not failed requests.
                check=AsyncConnectionPool.check_connection,
                name="pilothouse-store",
            )
            try:
                await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
            except BaseException:
                await pool.close()
                raise
        except (psycopg.Error, PoolTimeout) as exc:
            raise ServiceUnavailable(
                f"cannot open the PostgreSQL store at {redact_url(self.url)}: {exc}"
            ) from exc
        self._pool = pool

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _db(self) -> AsyncConnectionPool[Conn]:
        if self._pool is None:
            raise RuntimeError("PostgresStore is not connected: await store.connect() first")
        return self._pool

    # --- traces -------------------------------------------------------------------------------
    async def write_traces(self, records: Sequence[TraceRecord]) -> None:
        rows = [_trace_row(r) for r in records]
        spans = [
            (r.trace_id, s.span_id, _text(s.name), s.start_ms, s.duration_ms, s.status, _json(s.attributes))
            for r in records
            for s in r.spans
        ]
        # One transaction; executemany pipelines the statements, so a batch is one round trip or so.
        async with self._db().connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(UPSERT_TRACE, rows)
            if spans:
                await cur.executemany(UPSERT_SPAN, spans)

    async def get_trace(self, trace_id: str) -> TraceRecord | None:
        ref = _text(trace_id)
        async with self._db().connection() as conn:
            cur = await conn.execute("SELECT record FROM traces WHERE trace_id = %s", (ref,))
            row = await cur.fetchone()
            if row is None:
                return None
            cur = await conn.execute(
                "SELECT span_id, name, start_ms, duration_ms, status, attributes FROM spans"
                " WHERE trace_id = %s ORDER BY start_ms, span_id",
                (ref,),
            )
            span_rows = await cur.fetchall()
        data: dict[str, Any] = row["record"]
        data["spans"] = [SpanRecord.model_validate(s) for s in span_rows]
        return TraceRecord.model_validate(data)

    async def list_traces(
        self, *, limit: int = 50, before: str | None = None, filters: dict[str, Any] | None = None
    ) -> list[TraceRecord]:
        where: list[sql.Composable] = []
        args: list[Any] = []
        if before:
            where.append(sql.SQL("trace_id < %s"))
            args.append(_text(before))
        for name, value in (filters or {}).items():
            if value is None:
                continue
            if name not in TRACE_FILTERS:
                raise ValueError(f"unknown trace filter {name!r}")
            where.append(sql.SQL("{} = %s").format(sql.Identifier(TRACE_FILTERS[name])))
            args.append(_text(str(value)))  # every filter column is TEXT; SQLite would coerce too
        query: sql.Composable = sql.SQL("SELECT record FROM traces")
        if where:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
        query += sql.SQL(" ORDER BY trace_id DESC LIMIT %s")
        args.append(limit)
        async with self._db().connection() as conn:
            rows = await (await conn.execute(query, args)).fetchall()
        return [TraceRecord.model_validate(r["record"]) for r in rows]

    async def count_traces(self) -> int:
        async with self._db().connection() as conn:
            row = await (await conn.execute("SELECT count(*) AS n FROM traces")).fetchone()
        return int(row["n"]) if row is not None else 0

    # --- spend (the SpendStore port) ---------------------------------------------------------
    async def spend_since(self, scope: SpendScope, name: str, since: datetime) -> int:
        query, args = spend_since_sql(scope, _text(name), since, p="%s")
        async with self._db().connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            row = await (await cur.execute(query, args)).fetchone()
        return int(row[0]) if row is not None else 0

    async def spend_report(
        self, *, by: SpendGrouping, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRow]:
        query, args = spend_report_sql(by, since, until, p="%s")
        # Tuple rows: the summed columns share one name, which dict rows would fold together.
        async with self._db().connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            rows = await (await cur.execute(query, args)).fetchall()
        return [SpendRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    # --- keys and teams ----------------------------------------------------------------------
    async def get_setting(self, key: str) -> str | None:
        async with self._db().connection() as conn:
            cur = await conn.execute("SELECT value FROM meta WHERE key = %s", (_text(key),))
            row = await cur.fetchone()
        return str(row["value"]) if row is not None else None

    async def put_setting(self, key: str, value: str) -> None:
        async with self._db().connection() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_text(key), _text(value)),
            )

    async def find_by_hash(self, key_hash: str) -> KeyRecord | None:
        async with self._db().connection() as conn:
            cur = await conn.execute(KEY_SELECT + " WHERE k.key_hash = %s", (_text(key_hash),))
            row = await cur.fetchone()
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
        now = datetime.now(UTC)
        async with self._db().connection() as conn, conn.transaction():
            team_id = None
            if team is not None:
                # Upsert by name: replicas creating keys for a new team at once end with one team.
                # Under READ COMMITTED the SELECT sees a row a concurrent insert just committed.
                await conn.execute(
                    "INSERT INTO teams (team_id, name, created_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (name) DO NOTHING",
                    (new_id(), _text(team), now),
                )
                cur = await conn.execute("SELECT team_id FROM teams WHERE name = %s", (_text(team),))
                found = await cur.fetchone()
                assert found is not None  # inserted or already there, in this transaction's view
                team_id = found["team_id"]
            await conn.execute(
                "INSERT INTO keys (key_id, name, key_hash, prefix, team_id, scopes, models, created_at,"
                " expires_at, revoked_at, tools) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s)",
                (
                    key_id,
                    _text(name),
                    key_hash,
                    _text(prefix),
                    team_id,
                    _json(list(scopes)),
                    _json(list(models)) if models is not None else None,
                    now,
                    expires_at,
                    _json(list(tools)) if tools is not None else None,
                ),
            )
            row = await (await conn.execute(KEY_SELECT + " WHERE k.key_id = %s", (key_id,))).fetchone()
        assert row is not None
        return _key_from_row(row)

    async def list_keys(self, *, include_revoked: bool = False) -> list[KeyRecord]:
        query = KEY_SELECT + ("" if include_revoked else " WHERE k.revoked_at IS NULL") + " ORDER BY k.key_id"
        async with self._db().connection() as conn:
            rows = await (await conn.execute(query)).fetchall()
        return [_key_from_row(r) for r in rows]

    async def revoke_key(self, key_id_or_prefix: str) -> KeyRecord | None:
        """Revoke by id or by display prefix; an ambiguous prefix revokes nothing."""
        ref = _text(key_id_or_prefix)
        async with self._db().connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT key_id FROM keys WHERE key_id = %s OR prefix = %s FOR UPDATE", (ref, ref)
            )
            rows = await cur.fetchall()
            if len(rows) != 1:
                return None
            key_id = rows[0]["key_id"]
            await conn.execute(
                "UPDATE keys SET revoked_at = COALESCE(revoked_at, %s) WHERE key_id = %s",
                (datetime.now(UTC), key_id),
            )
            row = await (await conn.execute(KEY_SELECT + " WHERE k.key_id = %s", (key_id,))).fetchone()
        return _key_from_row(row) if row is not None else None
