"""The eval store contract on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pilothouse.store import Store, open_store
from tests.eval_store_contract import EvalStoreContract

pytestmark = pytest.mark.integration


class TestPostgresEvalStore(EvalStoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[Store]:
        store = open_store(postgres_url)
        await store.connect()
        yield store
        await store.aclose()
