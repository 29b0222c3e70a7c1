"""The prompt registry's repository on SQLite (the ``PromptStore`` port), mixed into ``SQLiteStore``.

Writes run on the writer thread inside ``BEGIN IMMEDIATE``, which serialises them across processes
too (a CLI push while a gateway runs), so version numbers and label moves never race.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from pilothouse.core.ids import new_id
from pilothouse.core.ports import LabelMove
from pilothouse.core.records import PromptEventRecord, PromptLabelRecord, PromptVersionRecord
from pilothouse.store.database import ThreadedConnection


def _version(row: sqlite3.Row) -> PromptVersionRecord:
    return PromptVersionRecord(
        name=row["name"],
        version=row["version"],
        content_hash=row["content_hash"],
        spec=orjson.loads(row["spec"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        created_by=row["created_by"],
        why=row["why"],
    )


def _label(row: sqlite3.Row) -> PromptLabelRecord:
    return PromptLabelRecord(
        name=row["name"],
        label=row["label"],
        version=row["version"],
        updated_at=datetime.fromisoformat(row["updated_at"]),
        updated_by=row["updated_by"],
    )


def _event(row: sqlite3.Row) -> PromptEventRecord:
    return PromptEventRecord(
        seq=row["seq"],
        event_id=row["event_id"],
        at=datetime.fromisoformat(row["at"]),
        name=row["name"],
        kind=row["kind"],
        version=row["version"],
        label=row["label"],
        from_version=row["from_version"],
        who=row["who"],
        why=row["why"],
        forced=bool(row["forced"]),
    )


T = TypeVar("T")

_INSERT_EVENT = (
    "INSERT INTO prompt_events (event_id, at, name, kind, version, label, from_version, who, why, forced)"
    " VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return result


class SQLitePromptRepository:
    _writer: ThreadedConnection
    _reader: ThreadedConnection

    async def add_prompt_version(
        self, *, name: str, spec: dict[str, Any], content_hash: str, who: str, why: str
    ) -> tuple[PromptVersionRecord, bool]:
        def write(conn: sqlite3.Connection) -> tuple[sqlite3.Row, bool]:
            def work() -> tuple[sqlite3.Row, bool]:
                latest = conn.execute(
                    "SELECT * FROM prompt_versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
                ).fetchone()
                if latest is not None and latest["content_hash"] == content_hash:
                    return latest, False
                version = latest["version"] + 1 if latest is not None else 1
                now = datetime.now(UTC).isoformat()
                conn.execute(
                    "INSERT INTO prompt_versions VALUES (?,?,?,?,?,?,?)",
                    (name, version, content_hash, orjson.dumps(spec).decode(), now, who, why),
                )
                conn.execute(_INSERT_EVENT, (new_id(), now, name, "push", version, None, None, who, why, 0))
                row: sqlite3.Row = conn.execute(
                    "SELECT * FROM prompt_versions WHERE name = ? AND version = ?", (name, version)
                ).fetchone()
                return row, True

            return _in_transaction(conn, work)

        row, created = await self._writer.run(write)
        return _version(row), created

    async def get_prompt_version(self, name: str, version: int | None = None) -> PromptVersionRecord | None:
        if version is None:
            sql = "SELECT * FROM prompt_versions WHERE name = ? ORDER BY version DESC LIMIT 1"
            args: tuple[Any, ...] = (name,)
        else:
            sql, args = "SELECT * FROM prompt_versions WHERE name = ? AND version = ?", (name, version)
        row = await self._reader.run(lambda c: c.execute(sql, args).fetchone())
        return _version(row) if row is not None else None

    async def list_prompt_versions(self, name: str) -> list[PromptVersionRecord]:
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT * FROM prompt_versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
        )
        return [_version(r) for r in rows]

    async def latest_prompt_versions(self) -> list[PromptVersionRecord]:
        rows = await self._reader.run(
            lambda c: c.execute(
                "SELECT v.* FROM prompt_versions v JOIN (SELECT name, max(version) AS version"
                " FROM prompt_versions GROUP BY name) m ON m.name = v.name AND m.version = v.version"
                " ORDER BY v.name"
            ).fetchall()
        )
        return [_version(r) for r in rows]

    async def prompt_labels(self, name: str | None = None) -> list[PromptLabelRecord]:
        where, args = (" WHERE name = ?", (name,)) if name is not None else ("", ())
        rows = await self._reader.run(
            lambda c: c.execute(f"SELECT * FROM prompt_labels{where} ORDER BY name, label", args).fetchall()
        )
        return [_label(r) for r in rows]

    async def move_prompt_label(
        self,
        *,
        name: str,
        label: str,
        version: int,
        expected: int | None,
        kind: LabelMove,
        who: str,
        why: str,
        forced: bool = False,
    ) -> PromptEventRecord | None:
        def write(conn: sqlite3.Connection) -> sqlite3.Row | None:
            def work() -> sqlite3.Row | None:
                current = conn.execute(
                    "SELECT version FROM prompt_labels WHERE name = ? AND label = ?", (name, label)
                ).fetchone()
                if (current[0] if current is not None else None) != expected:
                    return None
                now = datetime.now(UTC).isoformat()
                conn.execute(
                    "INSERT INTO prompt_labels VALUES (?,?,?,?,?) ON CONFLICT (name, label)"
                    " DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at,"
                    " updated_by = excluded.updated_by",
                    (name, label, version, now, who),
                )
                event_id = new_id()
                conn.execute(
                    _INSERT_EVENT,
                    (event_id, now, name, kind, version, label, expected, who, why, int(forced)),
                )
                row: sqlite3.Row = conn.execute(
                    "SELECT * FROM prompt_events WHERE event_id = ?", (event_id,)
                ).fetchone()
                return row

            return _in_transaction(conn, work)

        row = await self._writer.run(write)
        return _event(row) if row is not None else None

    async def prompt_events(
        self, name: str | None = None, *, label: str | None = None
    ) -> list[PromptEventRecord]:
        where: list[str] = []
        args: list[Any] = []
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if label is not None:
            where.append("label = ?")
            args.append(label)
        sql = (
            "SELECT * FROM prompt_events"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY seq"
        )
        rows = await self._reader.run(lambda c: c.execute(sql, args).fetchall())
        return [_event(r) for r in rows]

    async def prompt_change_count(self) -> int:
        # Events are append-only and every change writes one: the count is a change stamp.
        row = await self._reader.run(lambda c: c.execute("SELECT count(*) FROM prompt_events").fetchone())
        return int(row[0])
