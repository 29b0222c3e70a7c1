"""The ``EvalStore`` port over PostgreSQL: a mixin of ``PostgresStore`` (it uses the store's pool).
Same semantics as ``SQLiteEvals``; the shared contract tests run against both."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from pilothouse.core.eval_records import (
    EvalResultRecord,
    EvalRunRecord,
    EvalScoreRecord,
    ReviewItemRecord,
    ReviewLabel,
    RunStatus,
)
from pilothouse.store.eval_schema import review_dedupe_key

Conn = AsyncConnection[DictRow]

RESULT_COLUMNS = (
    "run_id, case_id, target_id, repeat_no, cache_key, status, output, error, trace_id, latency_ms,"
    " cost_nanousd, cached, created_at"
)


def _json(value: Any) -> str:
    # PostgreSQL text cannot hold U+0000; JSON escapes it, and JSONB refuses the escape too.
    return orjson.dumps(value).decode().replace("\\u0000", "\\ufffd")


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value is not None else None


def _score(row: DictRow) -> EvalScoreRecord:
    return EvalScoreRecord(
        scorer=row["scorer"],
        score_key=row["score_key"],
        value=row["value"],
        passed=row["passed"],
        reason=row["reason"],
        details=row["details"],
    )


def _result(row: DictRow, scores: list[EvalScoreRecord]) -> EvalResultRecord:
    return EvalResultRecord(
        run_id=row["run_id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        repeat=row["repeat_no"],
        cache_key=row["cache_key"],
        status=row["status"],
        output=row["output"],
        error=row["error"],
        trace_id=row["trace_id"],
        latency_ms=row["latency_ms"],
        cost_nanousd=row["cost_nanousd"],
        cached=row["cached"],
        created_at=row["created_at"],
        scores=scores,
    )


async def _with_scores(conn: Conn, rows: list[DictRow]) -> list[EvalResultRecord]:
    by_key: dict[tuple[str, str, str, int], list[EvalScoreRecord]] = {}
    run_ids = sorted({r["run_id"] for r in rows})
    if run_ids:
        cur = await conn.execute(
            "SELECT * FROM eval_scores WHERE run_id = ANY(%s) ORDER BY scorer", (run_ids,)
        )
        for s in await cur.fetchall():
            key = (s["run_id"], s["case_id"], s["target_id"], s["repeat_no"])
            by_key.setdefault(key, []).append(_score(s))
    return [
        _result(r, by_key.get((r["run_id"], r["case_id"], r["target_id"], r["repeat_no"]), [])) for r in rows
    ]


def _review(row: DictRow) -> ReviewItemRecord:
    return ReviewItemRecord(
        item_id=row["item_id"],
        source=row["source"],
        run_id=row["run_id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        repeat=row["repeat_no"],
        trace_id=row["trace_id"],
        payload=row["payload"],
        created_at=row["created_at"],
        label=row["label"],
        comment=row["comment"],
        reviewer=row["reviewer"],
        labelled_at=row["labelled_at"],
    )


class PostgresEvals:
    """Needs ``_db()`` (the connected pool) from ``PostgresStore``."""

    def _db(self) -> AsyncConnectionPool[Conn]:
        raise NotImplementedError  # provided by PostgresStore

    # --- runs ---------------------------------------------------------------------------------
    async def save_eval_run(self, run: EvalRunRecord) -> None:
        async with self._db().connection() as conn:
            await conn.execute(
                "INSERT INTO eval_runs (run_id, suite, suite_hash, status, created_at, finished_at, gate,"
                " gate_passed, record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (run_id) DO UPDATE SET suite = EXCLUDED.suite,"
                " suite_hash = EXCLUDED.suite_hash, status = EXCLUDED.status,"
                " finished_at = EXCLUDED.finished_at, gate = EXCLUDED.gate,"
                " gate_passed = EXCLUDED.gate_passed, record = EXCLUDED.record",
                (
                    run.run_id,
                    _text(run.suite),
                    run.suite_hash,
                    run.status,
                    run.created_at,
                    run.finished_at,
                    run.gate,
                    run.gate_passed,
                    _json(run.model_dump(mode="json")),
                ),
            )

    async def get_eval_run(self, run_id: str) -> EvalRunRecord | None:
        async with self._db().connection() as conn:
            cur = await conn.execute("SELECT record FROM eval_runs WHERE run_id = %s", (_text(run_id),))
            row = await cur.fetchone()
        return EvalRunRecord.model_validate(row["record"]) if row is not None else None

    async def list_eval_runs(
        self, *, suite: str | None = None, statuses: Sequence[RunStatus] | None = None, limit: int = 50
    ) -> list[EvalRunRecord]:
        where: list[str] = []
        args: list[Any] = []
        if suite is not None:
            where.append("suite = %s")
            args.append(_text(suite))
        if statuses:
            where.append("status = ANY(%s)")
            args.append(list(statuses))
        query = "SELECT record FROM eval_runs" + (" WHERE " + " AND ".join(where) if where else "")
        args.append(limit)
        async with self._db().connection() as conn:
            rows = await (await conn.execute(query + " ORDER BY run_id DESC LIMIT %s", args)).fetchall()
        return [EvalRunRecord.model_validate(r["record"]) for r in rows]

    # --- results ------------------------------------------------------------------------------
    async def save_eval_result(self, result: EvalResultRecord) -> None:
        key = (result.run_id, _text(result.case_id), _text(result.target_id), result.repeat)
        async with self._db().connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(
                f"INSERT INTO eval_results ({RESULT_COLUMNS}) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (run_id, case_id, target_id, repeat_no) DO UPDATE SET"
                " cache_key = EXCLUDED.cache_key, status = EXCLUDED.status, output = EXCLUDED.output,"
                " error = EXCLUDED.error, trace_id = EXCLUDED.trace_id, latency_ms = EXCLUDED.latency_ms,"
                " cost_nanousd = EXCLUDED.cost_nanousd, cached = EXCLUDED.cached,"
                " created_at = EXCLUDED.created_at",
                (
                    *key,
                    result.cache_key,
                    result.status,
                    _json(result.output),
                    _text(result.error),
                    result.trace_id,
                    result.latency_ms,
                    result.cost_nanousd,
                    result.cached,
                    result.created_at,
                ),
            )
            await cur.execute(
                "DELETE FROM eval_scores WHERE run_id = %s AND case_id = %s AND target_id = %s"
                " AND repeat_no = %s",
                key,
            )
            if result.scores:
                await cur.executemany(
                    "INSERT INTO eval_scores (run_id, case_id, target_id, repeat_no, scorer, score_key,"
                    " value, passed, reason, details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            *key,
                            _text(s.scorer),
                            s.score_key,
                            s.value,
                            s.passed,
                            _text(s.reason),
                            _json(s.details),
                        )
                        for s in result.scores
                    ],
                )

    async def eval_results(self, run_id: str) -> list[EvalResultRecord]:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM eval_results WHERE run_id = %s ORDER BY case_id, target_id, repeat_no",
                (_text(run_id),),
            )
            return await _with_scores(conn, await cur.fetchall())

    async def cached_eval_results(self, cache_keys: Sequence[str]) -> dict[str, EvalResultRecord]:
        keys = list(dict.fromkeys(cache_keys))
        if not keys:
            return {}
        async with self._db().connection() as conn:
            # The newest successful result per key, in one round trip whatever the number of keys.
            cur = await conn.execute(
                "SELECT DISTINCT ON (cache_key) * FROM eval_results"
                " WHERE status = 'ok' AND cache_key = ANY(%s) ORDER BY cache_key, created_at DESC",
                (keys,),
            )
            found = await _with_scores(conn, await cur.fetchall())
        return {r.cache_key: r for r in found}

    # --- the release gate (GateEvidence) ------------------------------------------------------
    async def record_gate_pass(self, prompt: str, version: int, run_id: str) -> None:
        async with self._db().connection() as conn:
            await conn.execute(
                "INSERT INTO eval_gate_passes (prompt, version, run_id, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (_text(prompt), version, run_id, datetime.now(UTC)),
            )

    async def gate_passed(self, prompt: str, version: int) -> bool:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "SELECT 1 AS one FROM eval_gate_passes WHERE prompt = %s AND version = %s LIMIT 1",
                (_text(prompt), version),
            )
            return await cur.fetchone() is not None

    # --- review queue -------------------------------------------------------------------------
    async def add_review_items(self, items: Sequence[ReviewItemRecord]) -> int:
        added = 0
        async with self._db().connection() as conn, conn.transaction():
            for i in items:
                cur = await conn.execute(
                    "INSERT INTO review_items (item_id, dedupe_key, source, run_id, case_id, target_id,"
                    " repeat_no, trace_id, payload, created_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (dedupe_key) DO NOTHING",
                    (
                        i.item_id,
                        _text(
                            review_dedupe_key(
                                i.source, i.run_id, i.case_id, i.target_id, i.repeat, i.trace_id
                            )
                        ),
                        i.source,
                        i.run_id,
                        _text(i.case_id),
                        _text(i.target_id),
                        i.repeat,
                        i.trace_id,
                        _json(i.payload),
                        i.created_at,
                    ),
                )
                added += cur.rowcount
        return added

    async def get_review_item(self, item_id: str) -> ReviewItemRecord | None:
        async with self._db().connection() as conn:
            cur = await conn.execute("SELECT * FROM review_items WHERE item_id = %s", (_text(item_id),))
            row = await cur.fetchone()
        return _review(row) if row is not None else None

    async def next_review_item(self) -> ReviewItemRecord | None:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM review_items WHERE label IS NULL ORDER BY item_id LIMIT 1"
            )
            row = await cur.fetchone()
        return _review(row) if row is not None else None

    async def label_review_item(
        self, item_id: str, *, label: ReviewLabel, comment: str | None, reviewer: str | None
    ) -> ReviewItemRecord | None:
        async with self._db().connection() as conn:
            cur = await conn.execute(
                "UPDATE review_items SET label = %s, comment = %s, reviewer = %s, labelled_at = %s"
                " WHERE item_id = %s RETURNING *",
                (label, _text(comment), _text(reviewer), datetime.now(UTC), _text(item_id)),
            )
            row = await cur.fetchone()
        return _review(row) if row is not None else None

    async def list_review_items(
        self, *, run_id: str | None = None, labelled: bool | None = None
    ) -> list[ReviewItemRecord]:
        where: list[str] = []
        args: list[Any] = []
        if run_id is not None:
            where.append("run_id = %s")
            args.append(_text(run_id))
        if labelled is not None:
            where.append("label IS NOT NULL" if labelled else "label IS NULL")
        query = "SELECT * FROM review_items" + (" WHERE " + " AND ".join(where) if where else "")
        async with self._db().connection() as conn:
            rows = await (await conn.execute(query + " ORDER BY item_id", args)).fetchall()
        return [_review(r) for r in rows]
