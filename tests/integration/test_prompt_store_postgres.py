"""The prompt store contract on a real PostgreSQL server, and the database's own refusal to
rewrite history."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from pilothouse.store import Store, open_store
from tests.prompt_store_contract import PromptStoreContract, push

pytestmark = pytest.mark.integration


class TestPostgresPromptStore(PromptStoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[Store]:
        store = open_store(postgres_url)
        await store.connect()
        yield store
        await store.aclose()


async def test_versions_and_events_cannot_be_rewritten(postgres_url: str) -> None:
    store = open_store(postgres_url)
    await store.connect()
    try:
        await push(store, "greet", "h1")
    finally:
        await store.aclose()
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        for sql in (
            "UPDATE prompt_versions SET content_hash = 'x'",
            "DELETE FROM prompt_versions",
            "UPDATE prompt_events SET who = 'mallory'",
            "DELETE FROM prompt_events",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                await conn.execute(sql)
