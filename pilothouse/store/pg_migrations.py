"""Forward-only, named migrations for PostgreSQL, with the same names and meaning as SQLite's.

The schema is SQLite's in PostgreSQL's types: JSON documents in JSONB, times in TIMESTAMPTZ,
booleans as BOOLEAN, money as BIGINT nano-USD (exact; ``SUM`` over BIGINT returns NUMERIC, so totals
stay exact too). Ids are ``COLLATE "C"``: they sort by creation time only in byte order, which is
what SQLite compares by and what ``ORDER BY trace_id DESC`` paging relies on, whatever the
database's locale.

Several gateway processes may start against one database at once: ``migrate`` holds an advisory
lock for the whole run, so one applies the pending migrations and the others then find them done.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

# Advisory locks are per database; the key is an arbitrary constant ("pilothse" as a 64-bit int).
MIGRATION_LOCK = int.from_bytes(b"pilothse", "big")

M001_INITIAL = """
CREATE TABLE teams (
    team_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE keys (
    key_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    team_id TEXT COLLATE "C" REFERENCES teams(team_id),
    scopes JSONB NOT NULL,
    models JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX keys_prefix ON keys(prefix);
CREATE TABLE traces (
    trace_id TEXT COLLATE "C" PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    endpoint TEXT NOT NULL,
    key_id TEXT,
    team_id TEXT,
    requested_model TEXT,
    served_model TEXT,
    provider TEXT,
    stream BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL,
    http_status INTEGER NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    cost_nanousd BIGINT NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttft_ms DOUBLE PRECISION,
    error_code TEXT,
    config_hash TEXT,
    record JSONB NOT NULL
);
CREATE INDEX traces_created_at ON traces(created_at);
CREATE INDEX traces_key ON traces(key_id, created_at);
CREATE INDEX traces_team ON traces(team_id, created_at);
CREATE INDEX traces_model ON traces(requested_model, created_at);
CREATE TABLE spans (
    trace_id TEXT COLLATE "C" NOT NULL,
    span_id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    start_ms DOUBLE PRECISION NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,
    attributes JSONB NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# Route and cache outcome as columns, for spend and cache reports by route.
M002_TRAFFIC_COLUMNS = """
ALTER TABLE traces ADD COLUMN route TEXT;
ALTER TABLE traces ADD COLUMN cache TEXT;
ALTER TABLE traces ADD COLUMN cost_saved_nanousd BIGINT NOT NULL DEFAULT 0;
CREATE INDEX traces_route ON traces(route, created_at);
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", M001_INITIAL),
    ("002_traffic_columns", M002_TRAFFIC_COLUMNS),
]


async def migrate(conn: AsyncConnection[Any]) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied.

    ``conn`` must be in autocommit mode: the advisory lock is held by the session, across the
    per-migration transactions, and released at the end (or when the connection drops).
    """
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        cur = await conn.execute("SELECT name FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        applied = []
        for name, script in MIGRATIONS:
            if name in done:
                continue
            async with conn.transaction():
                # No parameters: psycopg sends the script as one simple query, all statements at once.
                await conn.execute(script.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, now())", (name,)
                )
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
