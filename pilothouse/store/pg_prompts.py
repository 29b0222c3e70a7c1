"""The prompt registry's repository on PostgreSQL (the ``PromptStore`` port), mixed into ``PostgresStore``.

Semantics match ``SQLitePromptRepository`` (the shared contract tests run on both). Concurrent
pushes of one prompt from several replicas take a transaction-scoped advisory lock on the prompt's
name, so version numbers are gapless; label moves are compare-and-set under the row lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from pilothouse.core.ids import new_id
from pilothouse.core.ports import LabelMove
from pilothouse.core.records import PromptEventRecord, PromptLabelRecord, PromptVersionRecord

Conn = AsyncConnection[DictRow]

# The first key of the two-key advisory lock space (apart from the migrations' one-key lock).
_PUSH_LOCK = int.from_bytes(b"prmt", "big")

_INSERT_EVENT = (
    "INSERT INTO prompt_events (event_id, at, name, kind, version, label, from_version, who, why, forced)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *"
)


class PostgresPromptRepository:
    def _db(self) -> AsyncConnectionPool[Conn]:
        raise NotImplementedError  # provided by PostgresStore

    async def add_prompt_version(
        self, *, name: str, spec: dict[str, Any], content_hash: str, who: str, why: str
    ) -> tuple[PromptVersionRecord, bool]:
        async with self._db().connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_PUSH_LOCK, name))
            cur = await conn.execute(
                "SELECT * FROM prompt_versions WHERE name = %s ORDER BY version DESC LIMIT 1", (name,)
            )
            latest = await cur.fetchone()
            if latest is not None and latest["content_hash"] == content_hash:
                return PromptVersionRecord.model_validate(latest), False
            version = latest["version"] + 1 if latest is not None else 1
            now = datetime.now(UTC)
            cur = await conn.execute(
                "INSERT INTO prompt_versions (name, version, content_hash, spec, created_at, created_by, why)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (name, version, content_hash, Jsonb(spec), now, who, why),
            )
            row = await cur.fetchone()
            await conn.execute(
                _INSERT_EVENT, (new_id(), now, name, "push", version, None, None, who, why, False)
            )
        assert row is not None
        return PromptVersionRecord.model_validate(row), True

    async def get_prompt_version(self, name: str, version: int | None = None) -> PromptVersionRecord | None:
        if version is None:
            query = "SELECT * FROM prompt_versions WHERE name = %s ORDER BY version DESC LIMIT 1"
            args: tuple[Any, ...] = (name,)
        else:
            query, args = "SELECT * FROM prompt_versions WHERE name = %s AND version = %s", (name, version)
        async with self._db().connection() as conn:
            row = await (await conn.execute(query, args)).fetchone()
        return PromptVersionRecord.model_validate(row) if row is not None else None

    async def list_prompt_versions(self, name: str) -> list[PromptVersionRecord]:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM prompt_versions WHERE name = %s ORDER BY version", (name,)
            )
            rows = await cur.fetchall()
        return [PromptVersionRecord.model_validate(r) for r in rows]

    async def latest_prompt_versions(self) -> list[PromptVersionRecord]:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "SELECT DISTINCT ON (name) * FROM prompt_versions ORDER BY name, version DESC"
            )
            rows = await cur.fetchall()
        return [PromptVersionRecord.model_validate(r) for r in rows]

    async def prompt_labels(self, name: str | None = None) -> list[PromptLabelRecord]:
        where, args = (" WHERE name = %s", (name,)) if name is not None else ("", ())
        async with self._db().connection() as conn:
            cur = await conn.execute(f"SELECT * FROM prompt_labels{where} ORDER BY name, label", args)
            rows = await cur.fetchall()
        return [PromptLabelRecord.model_validate(r) for r in rows]

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
        now = datetime.now(UTC)
        async with self._db().connection() as conn, conn.transaction():
            if expected is None:
                # A concurrent creation of the same label makes this insert do nothing.
                cur = await conn.execute(
                    "INSERT INTO prompt_labels (name, label, version, updated_at, updated_by)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name, label) DO NOTHING",
                    (name, label, version, now, who),
                )
            else:
                # Under READ COMMITTED a concurrent move holds the row; once it commits, the WHERE
                # is checked again against the new version and this update matches nothing.
                cur = await conn.execute(
                    "UPDATE prompt_labels SET version = %s, updated_at = %s, updated_by = %s"
                    " WHERE name = %s AND label = %s AND version = %s",
                    (version, now, who, name, label, expected),
                )
            if cur.rowcount != 1:
                return None
            cur = await conn.execute(
                _INSERT_EVENT, (new_id(), now, name, kind, version, label, expected, who, why, forced)
            )
            row = await cur.fetchone()
        return PromptEventRecord.model_validate(row) if row is not None else None

    async def prompt_events(
        self, name: str | None = None, *, label: str | None = None
    ) -> list[PromptEventRecord]:
        where: list[str] = []
        args: list[Any] = []
        if name is not None:
            where.append("name = %s")
            args.append(name)
        if label is not None:
            where.append("label = %s")
            args.append(label)
        query = (
            "SELECT * FROM prompt_events"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY seq"
        )
        async with self._db().connection() as conn:
            rows = await (await conn.execute(query, args)).fetchall()
        return [PromptEventRecord.model_validate(r) for r in rows]

    async def prompt_change_count(self) -> int:
        # Events are append-only and every change writes one, in its own transaction: the count
        # grows whenever a change commits (a max(seq) could miss one that commits out of order).
        async with self._db().connection() as conn:
            row = await (await conn.execute("SELECT count(*) AS n FROM prompt_events")).fetchone()
        return int(row["n"]) if row is not None else 0
