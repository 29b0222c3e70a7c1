"""The ``EvalStore`` port over SQLite: a mixin of ``SQLiteStore`` (it shares the store's writer and
reader threads). Documents are JSON text; booleans are integers; times are UTC ISO-8601 text."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from pilothouse.core.eval_records import (
    EvalResultRecord,
    EvalRunRecord,
    EvalScoreRecord,
    ReviewItemRecord,
    ReviewLabel,
    RunStatus,
)
from pilothouse.store.database import ThreadedConnection
from pilothouse.store.eval_schema import review_dedupe_key

# SQLite's default limit on host parameters is far above this; chunks keep each IN list small.
IN_CHUNK = 500


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _score(row: sqlite3.Row) -> EvalScoreRecord:
    return EvalScoreRecord(
        scorer=row["scorer"],
        score_key=row["score_key"],
        value=row["value"],
        passed=_bool(row["passed"]),
        reason=row["reason"],
        details=orjson.loads(row["details"]),
    )


def _result(row: sqlite3.Row, scores: list[EvalScoreRecord]) -> EvalResultRecord:
    return EvalResultRecord(
        run_id=row["run_id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        repeat=row["repeat_no"],
        cache_key=row["cache_key"],
        status=row["status"],
        output=orjson.loads(row["output"]),
        error=row["error"],
        trace_id=row["trace_id"],
        latency_ms=row["latency_ms"],
        cost_nanousd=row["cost_nanousd"],
        cached=bool(row["cached"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        scores=scores,
    )


def _with_scores(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[EvalResultRecord]:
    """Attach each result's score rows (one query per run among the rows)."""
    by_key: dict[tuple[str, str, str, int], list[EvalScoreRecord]] = {}
    for run_id in {r["run_id"] for r in rows}:
        for s in conn.execute("SELECT * FROM eval_scores WHERE run_id = ? ORDER BY scorer", (run_id,)):
            key = (s["run_id"], s["case_id"], s["target_id"], s["repeat_no"])
            by_key.setdefault(key, []).append(_score(s))
    return [
        _result(r, by_key.get((r["run_id"], r["case_id"], r["target_id"], r["repeat_no"]), [])) for r in rows
    ]


def _review(row: sqlite3.Row) -> ReviewItemRecord:
    return ReviewItemRecord(
        item_id=row["item_id"],
        source=row["source"],
        run_id=row["run_id"],
        case_id=row["case_id"],
        target_id=row["target_id"],
        repeat=row["repeat_no"],
        trace_id=row["trace_id"],
        payload=orjson.loads(row["payload"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        label=row["label"],
        comment=row["comment"],
        reviewer=row["reviewer"],
        labelled_at=_dt(row["labelled_at"]),
    )


def _transaction(conn: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, args in statements:
            conn.execute(sql, args)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SQLiteEvals:
    """Needs ``_writer`` and ``_reader`` from ``SQLiteStore``."""

    _writer: ThreadedConnection
    _reader: ThreadedConnection

    # --- runs ---------------------------------------------------------------------------------
    async def save_eval_run(self, run: EvalRunRecord) -> None:
        row = (
            run.run_id,
            run.suite,
            run.suite_hash,
            run.status,
            run.created_at.isoformat(),
            run.finished_at.isoformat() if run.finished_at else None,
            int(run.gate),
            None if run.gate_passed is None else int(run.gate_passed),
            run.model_dump_json(),
        )
        sql = "INSERT OR REPLACE INTO eval_runs VALUES (?,?,?,?,?,?,?,?,?)"
        await self._writer.run(lambda c: _transaction(c, [(sql, row)]))

    async def get_eval_run(self, run_id: str) -> EvalRunRecord | None:
        row = await self._reader.run(
            lambda c: c.execute("SELECT record FROM eval_runs WHERE run_id = ?", (run_id,)).fetchone()
        )
        return EvalRunRecord.model_validate_json(row["record"]) if row is not None else None

    async def list_eval_runs(
        self, *, suite: str | None = None, statuses: Sequence[RunStatus] | None = None, limit: int = 50
    ) -> list[EvalRunRecord]:
        where: list[str] = []
        args: list[Any] = []
        if suite is not None:
            where.append("suite = ?")
            args.append(suite)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = "SELECT record FROM eval_runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY run_id DESC LIMIT ?"
        args.append(limit)
        rows = await self._reader.run(lambda c: c.execute(sql, args).fetchall())
        return [EvalRunRecord.model_validate_json(r["record"]) for r in rows]

    # --- results ------------------------------------------------------------------------------
    async def save_eval_result(self, result: EvalResultRecord) -> None:
        key = (result.run_id, result.case_id, result.target_id, result.repeat)
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT OR REPLACE INTO eval_results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    *key,
                    result.cache_key,
                    result.status,
                    _json(result.output),
                    result.error,
                    result.trace_id,
                    result.latency_ms,
                    result.cost_nanousd,
                    int(result.cached),
                    result.created_at.isoformat(),
                ),
            ),
            (
                "DELETE FROM eval_scores"
                " WHERE run_id = ? AND case_id = ? AND target_id = ? AND repeat_no = ?",
                key,
            ),
        ]
        for s in result.scores:
            statements.append(
                (
                    "INSERT INTO eval_scores VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        *key,
                        s.scorer,
                        s.score_key,
                        s.value,
                        None if s.passed is None else int(s.passed),
                        s.reason,
                        _json(s.details),
                    ),
                )
            )
        await self._writer.run(lambda c: _transaction(c, statements))

    async def eval_results(self, run_id: str) -> list[EvalResultRecord]:
        def read(conn: sqlite3.Connection) -> list[EvalResultRecord]:
            rows = conn.execute(
                "SELECT * FROM eval_results WHERE run_id = ? ORDER BY case_id, target_id, repeat_no",
                (run_id,),
            ).fetchall()
            return _with_scores(conn, rows)

        return await self._reader.run(read)

    async def cached_eval_results(self, cache_keys: Sequence[str]) -> dict[str, EvalResultRecord]:
        keys = list(dict.fromkeys(cache_keys))

        def read(conn: sqlite3.Connection) -> dict[str, EvalResultRecord]:
            found: dict[str, sqlite3.Row] = {}
            for start in range(0, len(keys), IN_CHUNK):
                chunk = keys[start : start + IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT * FROM eval_results WHERE status = 'ok' AND cache_key IN ({marks})"
                    " ORDER BY created_at",
                    chunk,
                ).fetchall()
                for row in rows:  # ascending: the newest result per key wins
                    found[row["cache_key"]] = row
            return {r.cache_key: r for r in _with_scores(conn, list(found.values()))}

        return await self._reader.run(read)

    # --- the release gate (GateEvidence) ------------------------------------------------------
    async def record_gate_pass(self, prompt: str, version: int, run_id: str) -> None:
        sql = "INSERT OR IGNORE INTO eval_gate_passes VALUES (?,?,?,?)"
        row = (prompt, version, run_id, datetime.now(UTC).isoformat())
        await self._writer.run(lambda c: _transaction(c, [(sql, row)]))

    async def gate_passed(self, prompt: str, version: int) -> bool:
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT 1 FROM eval_gate_passes WHERE prompt = ? AND version = ? LIMIT 1", (prompt, version)
            ).fetchone()
        )
        return row is not None

    # --- review queue -------------------------------------------------------------------------
    async def add_review_items(self, items: Sequence[ReviewItemRecord]) -> int:
        rows = [
            (
                i.item_id,
                review_dedupe_key(i.source, i.run_id, i.case_id, i.target_id, i.repeat, i.trace_id),
                i.source,
                i.run_id,
                i.case_id,
                i.target_id,
                i.repeat,
                i.trace_id,
                _json(i.payload),
                i.created_at.isoformat(),
            )
            for i in items
        ]

        def write(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            statements = [
                (
                    "INSERT OR IGNORE INTO review_items (item_id, dedupe_key, source, run_id, case_id,"
                    " target_id, repeat_no, trace_id, payload, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    row,
                )
                for row in rows
            ]
            _transaction(conn, statements)
            return conn.total_changes - before

        return await self._writer.run(write)

    async def get_review_item(self, item_id: str) -> ReviewItemRecord | None:
        row = await self._reader.run(
            lambda c: c.execute("SELECT * FROM review_items WHERE item_id = ?", (item_id,)).fetchone()
        )
        return _review(row) if row is not None else None

    async def next_review_item(self) -> ReviewItemRecord | None:
        row = await self._reader.run(
            lambda c: c.execute(
                "SELECT * FROM review_items WHERE label IS NULL ORDER BY item_id LIMIT 1"
            ).fetchone()
        )
        return _review(row) if row is not None else None

    async def label_review_item(
        self, item_id: str, *, label: ReviewLabel, comment: str | None, reviewer: str | None
    ) -> ReviewItemRecord | None:
        sql = (
            "UPDATE review_items SET label = ?, comment = ?, reviewer = ?, labelled_at = ? WHERE item_id = ?"
        )
        row = (label, comment, reviewer, datetime.now(UTC).isoformat(), item_id)
        await self._writer.run(lambda c: _transaction(c, [(sql, row)]))
        return await self.get_review_item(item_id)

    async def list_review_items(
        self, *, run_id: str | None = None, labelled: bool | None = None
    ) -> list[ReviewItemRecord]:
        where: list[str] = []
        args: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            args.append(run_id)
        if labelled is not None:
            where.append("label IS NOT NULL" if labelled else "label IS NULL")
        sql = "SELECT * FROM review_items" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self._reader.run(lambda c: c.execute(sql + " ORDER BY item_id", args).fetchall())
        return [_review(r) for r in rows]
