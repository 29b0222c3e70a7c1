from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pilothouse.core.errors import ConfigError
from pilothouse.core.records import SpanRecord, TraceRecord
from pilothouse.store import SQLiteStore, open_store
from pilothouse.store.migrations import MIGRATIONS, migrate

pytestmark = pytest.mark.unit


def test_migrations_apply_once_and_record_names(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    assert migrate(conn) == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"teams", "keys", "traces", "spans", "meta", "schema_migrations"} <= tables
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] in ("delete", "wal")
    conn.close()


def test_store_uses_wal(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "wal.db"))
    store.close()
    conn = sqlite3.connect(tmp_path / "wal.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_trace_round_trip_keeps_exact_cost_and_spans(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "t.db"))
    try:
        record = TraceRecord(
            trace_id="01TEST",
            created_at=datetime.now(UTC),
            endpoint="chat.completions",
            requested_model="m",
            cost_usd=Decimal("0.000000123"),
            messages=[{"role": "user", "content": "hi"}],
            spans=[SpanRecord(span_id="a1", name="auth", start_ms=0.0, duration_ms=0.2, attributes={"k": 1})],
        )
        await store.write_traces([record])
        await store.write_traces([record])  # idempotent: a retried batch does not duplicate
        got = await store.get_trace("01TEST")
        assert got is not None
        assert got.cost_usd == Decimal("0.000000123")
        assert got.messages == record.messages
        assert [s.name for s in got.spans] == ["auth"]
        assert got.spans[0].attributes == {"k": 1}
        assert await store.count_traces() == 1
        assert [t.trace_id for t in await store.list_traces(filters={"model": "m"})] == ["01TEST"]
        assert await store.list_traces(filters={"model": "other"}) == []
        with pytest.raises(ValueError, match="unknown trace filter"):
            await store.list_traces(filters={"bogus": "x"})
    finally:
        store.close()


async def test_keys_teams_and_revocation(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "k.db"))
    try:
        a = await store.create_key(
            name="a",
            key_hash="h1",
            prefix="ph-aaaaaaa",
            team="t",
            scopes=["chat"],
            models=None,
            expires_at=None,
        )
        b = await store.create_key(
            name="b",
            key_hash="h2",
            prefix="ph-bbbbbbb",
            team="t",
            scopes=["chat"],
            models=["m"],
            expires_at=None,
        )
        assert a.team_id == b.team_id
        assert b.team_name == "t"
        assert b.models == ["m"]
        assert (await store.find_by_hash("h1")) == a
        revoked = await store.revoke_key("ph-aaaaaaa")
        assert revoked is not None
        assert revoked.revoked_at is not None
        assert [k.name for k in await store.list_keys()] == ["b"]
        assert len(await store.list_keys(include_revoked=True)) == 2
        assert await store.revoke_key("nothing") is None
    finally:
        store.close()


def test_store_url_selection(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'x.db'}").close()
    with pytest.raises(ConfigError) as exc:
        open_store("mysql://localhost/db")
    assert exc.value.path == "storage.url"
