"""The prompt store contract on SQLite, and the database's own refusal to rewrite history."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pilothouse.store import SQLiteStore, Store
from tests.prompt_store_contract import PromptStoreContract, push

pytestmark = pytest.mark.unit


class TestSQLitePromptStore(PromptStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SQLiteStore(str(tmp_path / "prompts.db"))
        await store.connect()
        yield store
        await store.aclose()


async def test_versions_and_events_cannot_be_rewritten(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "history.db"))
    await push(store, "greet", "h1")
    await store.aclose()
    conn = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    try:
        for sql in (
            "UPDATE prompt_versions SET content_hash = 'x'",
            "DELETE FROM prompt_versions",
            "UPDATE prompt_events SET who = 'mallory'",
            "DELETE FROM prompt_events",
        ):
            with pytest.raises(sqlite3.IntegrityError, match=r"immutable|append-only"):
                conn.execute(sql)
    finally:
        conn.close()
