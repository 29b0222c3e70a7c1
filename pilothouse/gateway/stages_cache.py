"""The response cache stage, and the embedder it reaches models through.

It sits outside ``Accounting``: on a hit nothing inside runs (no provider call, zero cost); on a miss
the answer comes back through it with its cost already on the trace, and is stored after the
response (non-stream: a background task; stream: when the last chunk has gone through).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pilothouse.cache import (
    CachedAnswer,
    CacheKey,
    Lookup,
    ResponseCache,
    RouteCache,
    as_completion,
    decide,
    tenant_scope,
    unstorable_reason,
)
from pilothouse.core.completions import CompletionBuilder, chunks_of, replay
from pilothouse.core.types import JSON, ChatResult, ChunkStream, Usage
from pilothouse.gateway.asgi import header
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome
from pilothouse.routing import Router

log = logging.getLogger("pilothouse.cache")

CACHE_HEADER = b"x-pilothouse-cache"
CACHED_FLAG = "cached"


class ResponseCaching:
    name = "cache"

    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        route = self._cache.for_route(ctx.route.name)
        if route is None:
            return await call_next(ctx)  # this route does not cache: no work at all
        start = time.perf_counter()
        control = header(ctx.scope, b"cache-control")
        decision = decide(ctx.body, route.config, control.decode("latin-1") if control else None)
        attributes: dict[str, Any] = {"pilothouse.cache.backend": self._cache.backend.name}
        if decision.reason:
            attributes["pilothouse.cache.reason"] = decision.reason
        if decision.bypass:
            _finish(ctx, "bypass", start, attributes)
            return await call_next(ctx)

        principal = ctx.principal
        key = route.key(ctx.body, tenant_scope(principal.team_id, principal.key_id))
        found = Lookup()
        status = "ok"
        if decision.lookup:
            try:
                found = await self._cache.lookup(route, key)
            except Exception as exc:
                # A broken cache (Redis down or stalled, embedder failing) is a miss, never an error.
                log.warning("cache lookup failed on route %s: %r", route.route, exc)
                attributes["error.type"] = type(exc).__name__
                status = "error"
        if found.similarity is not None:
            attributes["pilothouse.cache.similarity"] = found.similarity
        if found.embed_ms is not None:
            attributes["pilothouse.cache.embed_ms"] = found.embed_ms
        if found.answer is not None and found.kind is not None:
            return _serve(ctx, found.answer, found.kind, start, attributes)

        _finish(ctx, "miss" if decision.lookup else "bypass", start, attributes, status=status)
        outcome = await call_next(ctx)
        if not decision.store:
            return outcome
        if isinstance(outcome, ChatResult):
            self._store(ctx, route, key, outcome.body, found.vector)
            return outcome
        return StreamOutcome(self._recorded(ctx, route, key, outcome.chunks, found.vector))

    def _store(
        self, ctx: ChatContext, route: RouteCache, key: CacheKey, completion: JSON, vector: list[float] | None
    ) -> None:
        reason = unstorable_reason(completion, ctx.trace.flags)
        if reason is not None:
            ctx.trace.attributes["pilothouse.cache.not_stored"] = reason
            return
        # Accounting ran inside this stage: the trace holds what this answer cost.
        self._cache.store_later(
            route, key, CachedAnswer.from_completion(completion, ctx.trace.cost_usd), vector
        )

    async def _recorded(
        self,
        ctx: ChatContext,
        route: RouteCache,
        key: CacheKey,
        chunks: ChunkStream,
        vector: list[float] | None,
    ) -> ChunkStream:
        """Pass the chunks through and keep the answer; store it only if the stream completed."""
        builder = CompletionBuilder()
        try:
            async for chunk in chunks:
                builder.add(chunk)
                yield chunk
            self._store(ctx, route, key, builder.completion(), vector)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]


def _finish(
    ctx: ChatContext, outcome: str, start: float, attributes: dict[str, Any], *, status: str = "ok"
) -> None:
    ctx.trace.fields["cache"] = outcome
    attributes["pilothouse.cache.outcome"] = outcome
    ctx.trace.add_span("cache", start, time.perf_counter(), status=status, attributes=attributes)
    ctx.response_headers.append((CACHE_HEADER, b"hit" if outcome.startswith("hit") else outcome.encode()))


def _serve(
    ctx: ChatContext, answer: CachedAnswer, kind: str, start: float, attributes: dict[str, Any]
) -> ChatOutcome:
    """The stored answer, at no cost: the trace keeps its token counts and what it saved."""
    trace = ctx.trace
    _finish(ctx, f"hit_{kind}", start, attributes)
    trace.fields["cost_saved_usd"] = answer.cost_usd
    if answer.model:
        trace.fields["served_model"] = answer.model
    trace.flags.append(CACHED_FLAG)
    trace.attributes["pilothouse.cache.usage"] = answer.usage.to_openai()
    trace.attributes["pilothouse.cache.age_s"] = round(max(0.0, time.time() - answer.stored_at), 3)
    if ctx.request.stream:
        return StreamOutcome(replay(chunks_of(as_completion(answer))))
    return ChatResult(as_completion(answer), Usage())  # nothing consumed upstream


class _NoSpans:
    """Embeddings for cache lookups are not attempts of the request: their time is on the cache span."""

    __slots__ = ("attributes", "fields", "flags")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.flags: list[str] = []
        self.attributes: dict[str, Any] = {}

    def add_span(
        self,
        name: str,
        start: float,
        end: float,
        *,
        status: str = "ok",
        attributes: dict[str, Any] | None = None,
    ) -> None:
        return None


class RouterEmbedder:
    """``TextEmbedder`` over one of the router's embedding deployments (with its deadline)."""

    def __init__(self, router: Router, model: str) -> None:
        self._router = router
        self._model = model

    async def embed_texts(self, texts: list[str]) -> list[list[float]]:
        deployment = self._router.embedding(self._model)
        result = await self._router.embed(deployment, texts, None, _NoSpans())
        return result.vectors
