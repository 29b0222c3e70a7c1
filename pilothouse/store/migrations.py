"""Forward-only, named migrations applied in order; ``schema_migrations`` records what ran."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from pilothouse.store.eval_schema import SQLITE_004_EVALS

Migration = Callable[[sqlite3.Connection], None]


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one (``executescript`` would commit the migration's transaction)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:80]}")


def m001_initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE teams (
            team_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        CREATE TABLE keys (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            team_id TEXT REFERENCES teams(team_id),
            scopes TEXT NOT NULL,
            models TEXT,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT
        );
        CREATE INDEX keys_prefix ON keys(prefix);
        CREATE TABLE traces (
            trace_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            key_id TEXT,
            team_id TEXT,
            requested_model TEXT,
            served_model TEXT,
            provider TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            http_status INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost_nanousd INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            ttft_ms REAL,
            error_code TEXT,
            config_hash TEXT,
            record TEXT NOT NULL
        );
        CREATE INDEX traces_created_at ON traces(created_at);
        CREATE INDEX traces_key ON traces(key_id, created_at);
        CREATE INDEX traces_team ON traces(team_id, created_at);
        CREATE INDEX traces_model ON traces(requested_model, created_at);
        CREATE TABLE spans (
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            name TEXT NOT NULL,
            start_ms REAL NOT NULL,
            duration_ms REAL NOT NULL,
            status TEXT NOT NULL,
            attributes TEXT NOT NULL,
            PRIMARY KEY (trace_id, span_id)
        );
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    )


def m002_traffic_columns(conn: sqlite3.Connection) -> None:
    """Route and cache outcome as columns, for spend and cache reports by route."""
    run_script(
        conn,
        """
        ALTER TABLE traces ADD COLUMN route TEXT;
        ALTER TABLE traces ADD COLUMN cache TEXT;
        ALTER TABLE traces ADD COLUMN cost_saved_nanousd INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX traces_route ON traces(route, created_at);
        """,
    )


def m005_key_tools(conn: sqlite3.Connection) -> None:
    """Keys may be limited to some tools (JSON list; NULL: any tool)."""
    run_script(conn, "ALTER TABLE keys ADD COLUMN tools TEXT;")


def m003_prompts(conn: sqlite3.Connection) -> None:
    """The prompt registry: immutable numbered versions, labels pointing at them, and an append-only
    log of every change. Triggers make versions and events append-only in the database itself."""
    run_script(
        conn,
        """
        CREATE TABLE prompt_versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (name, version)
        );
        CREATE TABLE prompt_labels (
            name TEXT NOT NULL,
            label TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (name, label),
            FOREIGN KEY (name, version) REFERENCES prompt_versions(name, version)
        );
        CREATE TABLE prompt_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            version INTEGER NOT NULL,
            label TEXT,
            from_version INTEGER,
            who TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            forced INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX prompt_events_name ON prompt_events(name, label, seq);
        CREATE TRIGGER prompt_versions_no_update BEFORE UPDATE ON prompt_versions
        BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;
        CREATE TRIGGER prompt_versions_no_delete BEFORE DELETE ON prompt_versions
        BEGIN SELECT RAISE(ABORT, 'prompt versions are immutable'); END;
        CREATE TRIGGER prompt_events_no_update BEFORE UPDATE ON prompt_events
        BEGIN SELECT RAISE(ABORT, 'prompt events are append-only'); END;
        CREATE TRIGGER prompt_events_no_delete BEFORE DELETE ON prompt_events
        BEGIN SELECT RAISE(ABORT, 'prompt events are append-only'); END;
        """,
    )


def m004_evals(conn: sqlite3.Connection) -> None:
    """Eval runs, results, scores, gate evidence and the review queue (``store/eval_schema.py``)."""
    run_script(conn, SQLITE_004_EVALS)


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_initial", m001_initial),
    ("002_traffic_columns", m002_traffic_columns),
    ("003_prompts", m003_prompts),
    ("004_evals", m004_evals),
    ("005_key_tools", m005_key_tools),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            fn(conn)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
