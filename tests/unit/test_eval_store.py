"""The eval store contract on SQLite (PostgreSQL: tests/integration/test_eval_store_postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pilothouse.store import SQLiteStore, Store
from tests.eval_store_contract import EvalStoreContract

pytestmark = pytest.mark.unit


class TestSQLiteEvalStore(EvalStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SQLiteStore(str(tmp_path / "evals.db"))
        await store.connect()
        yield store
        await store.aclose()
