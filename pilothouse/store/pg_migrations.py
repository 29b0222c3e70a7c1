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

from pilothouse.store.eval_schema import PG_004_EVALS

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

# The prompt registry: immutable numbered versions, labels pointing at them, and an append-only log
# of every change. Triggers make versions and events append-only in the database itself.
M003_PROMPTS = """
CREATE TABLE prompt_versions (
    name TEXT COLLATE "C" NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    spec JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    why TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);
CREATE TABLE prompt_labels (
    name TEXT COLLATE "C" NOT NULL,
    label TEXT COLLATE "C" NOT NULL,
    version INTEGER NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES prompt_versions(name, version)
);
CREATE TABLE prompt_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    at TIMESTAMPTZ NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    label TEXT COLLATE "C",
    from_version INTEGER,
    who TEXT NOT NULL,
    why TEXT NOT NULL DEFAULT '',
    forced BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX prompt_events_name ON prompt_events(name, label, seq);
CREATE FUNCTION pilothouse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER prompt_versions_append_only BEFORE UPDATE OR DELETE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION pilothouse_append_only();
CREATE TRIGGER prompt_events_append_only BEFORE UPDATE OR DELETE ON prompt_events
    FOR EACH ROW EXECUTE FUNCTION pilothouse_append_only();
"""

M005_KEY_TOOLS = "ALTER TABLE keys ADD COLUMN tools JSONB;"

MIGRATIONS: list[tuple[str, str]] = [
    ("001_initial", M001_INITIAL),
    ("002_traffic_columns", M002_TRAFFIC_COLUMNS),
    ("003_prompts", M003_PROMPTS),
    ("004_evals", PG_004_EVALS),  # store/eval_schema.py
    ("005_key_tools", M005_KEY_TOOLS),
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
