from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pilothouse.core.errors import ConfigError
from pilothouse.store import SQLiteStore, Store, open_store
from pilothouse.store.migrations import MIGRATIONS, migrate
from tests.store_contract import StoreContract

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


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SQLiteStore(str(tmp_path / "contract.db"))
        await store.connect()
        yield store
        await store.aclose()


async def test_store_url_selection(tmp_path: Path) -> None:
    sqlite = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(sqlite, SQLiteStore)
    await sqlite.aclose()
    with pytest.raises(ConfigError) as exc:
        open_store("mysql://localhost/db")
    assert exc.value.path == "storage.url"
    # PostgreSQL URLs pick the PostgreSQL store; nothing connects until ``connect()``.
    for url in ("postgresql://u@127.0.0.1:1/db", "postgres://u@127.0.0.1:1/db"):
        assert type(open_store(url)).__name__ == "PostgresStore"
