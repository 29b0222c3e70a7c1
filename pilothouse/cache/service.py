"""The response cache: per-route settings over one backend; exact lookups, then semantic ones.

Stores run as background tasks so an answer is never delayed by them; a failed store is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pilothouse.cache.backend import CacheBackend
from pilothouse.cache.entry import CachedAnswer
from pilothouse.cache.keys import CacheKey, cache_key
from pilothouse.cache.similarity import best_match, normalize, pack
from pilothouse.core.ports import TextEmbedder
from pilothouse.core.traffic import CacheConfig
from pilothouse.core.types import JSON

log = logging.getLogger("pilothouse.cache")

HitKind = Literal["exact", "semantic"]


@dataclass(frozen=True, slots=True)
class RouteCache:
    """One route's resolved cache settings; ``embedder`` is set when semantic caching is on."""

    route: str
    config: CacheConfig
    embedder: TextEmbedder | None = None
    embedding_model: str | None = None

    def key(self, body: JSON, scope: str) -> CacheKey:
        return cache_key(body, route=self.route, scope=scope, embedding_model=self.embedding_model)


@dataclass(slots=True)
class Lookup:
    answer: CachedAnswer | None = None
    kind: HitKind | None = None
    similarity: float | None = None  # the best candidate's, hit or not
    vector: list[float] | None = None  # the prompt's embedding, reused when the answer is stored
    embed_ms: float | None = None


class ResponseCache:
    def __init__(self, backend: CacheBackend, routes: Mapping[str, RouteCache]) -> None:
        self.backend = backend
        self._routes = dict(routes)
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Stores not finished yet."""
        return len(self._pending)

    def for_route(self, name: str) -> RouteCache | None:
        return self._routes.get(name)

    @staticmethod
    async def _embed(embedder: TextEmbedder, text: str, lookup: Lookup | None = None) -> list[float]:
        start = time.perf_counter()
        vectors = await embedder.embed_texts([text])
        if lookup is not None:
            lookup.embed_ms = round((time.perf_counter() - start) * 1000, 3)
        return normalize(vectors[0])

    async def lookup(self, route: RouteCache, key: CacheKey) -> Lookup:
        backend = self.backend
        if route.config.exact:
            data = await backend.get(key.exact)
            answer = CachedAnswer.decode(data) if data is not None else None
            if answer is not None:
                return Lookup(answer, "exact", 1.0)
        found = Lookup()
        if route.embedder is None or key.prompt is None:
            return found
        found.vector = await self._embed(route.embedder, key.prompt, found)
        match = best_match(found.vector, await backend.candidates(key.bucket))
        if match is None:
            return found
        entry_key, similarity = match
        found.similarity = round(similarity, 6)
        if similarity >= route.config.semantic_threshold:
            data = await backend.get(entry_key)
            found.answer = CachedAnswer.decode(data) if data is not None else None
            found.kind = "semantic" if found.answer is not None else None
        return found

    async def store(
        self, route: RouteCache, key: CacheKey, answer: CachedAnswer, vector: list[float] | None = None
    ) -> None:
        await self._put(route, key, answer.encode(), vector)

    def store_later(
        self, route: RouteCache, key: CacheKey, answer: CachedAnswer, vector: list[float] | None = None
    ) -> None:
        """Fire and forget, off the response path. Encoded now: the answer is a snapshot."""
        task = asyncio.get_running_loop().create_task(self._put(route, key, answer.encode(), vector))
        self._pending.add(task)
        task.add_done_callback(self._stored)

    async def _put(self, route: RouteCache, key: CacheKey, data: bytes, vector: list[float] | None) -> None:
        ttl = route.config.ttl_seconds
        # The entry first: a semantic candidate must not point at an entry that is not there yet.
        await self.backend.set(key.exact, data, ttl)
        if route.embedder is not None and key.prompt is not None:
            if vector is None:
                vector = await self._embed(route.embedder, key.prompt)
            await self.backend.add_candidate(key.bucket, key.exact, pack(vector), ttl)

    def _stored(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cache store failed: %r", task.exception())

    async def drain(self) -> None:
        """Wait for pending stores (shutdown, and tests that read right after writing)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
