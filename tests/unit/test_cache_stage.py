"""The cache stage around a scripted inner handler: what it stores, serves and records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from pilothouse.cache import MemoryBackend, RedisBackend, ResponseCache, RouteCache
from pilothouse.core.errors import ProviderBadResponse
from pilothouse.core.traffic import CacheConfig, RouteConfig
from pilothouse.core.types import JSON, ChatResult, Usage
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, StreamOutcome
from pilothouse.gateway.schemas import ChatCompletionRequest
from pilothouse.gateway.stages_cache import ResponseCaching
from pilothouse.keys import Principal
from pilothouse.routing import Route
from pilothouse.traces import TraceBuilder

pytestmark = pytest.mark.unit

ROUTE = "support"


def principal(team: str | None = "team-1", key: str = "key-1") -> Principal:
    return Principal(key, key, team, team, frozenset({"chat"}), None, None, False)


def context(
    *,
    stream: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
    who: Principal | None = None,
    **extra: Any,
) -> ChatContext:
    data: JSON = {
        "model": ROUTE,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0,
        "stream": stream,
        **extra,
    }
    route = Route(ROUTE, RouteConfig(name=ROUTE, deployments=["x"], cache=CacheConfig()), deployments=())
    return ChatContext(
        scope={"headers": headers or []},
        request=ChatCompletionRequest.model_validate(data),
        body=data,
        principal=who or principal(),
        trace=TraceBuilder("chat.completions"),
        route=route,
    )


class Upstream:
    """The inner pipeline: answers, accounts a cost, may flag or break, and counts its calls."""

    def __init__(self, *, flags: tuple[str, ...] = (), break_stream: bool = False) -> None:
        self.calls = 0
        self.flags = flags
        self.break_stream = break_stream

    async def __call__(self, ctx: ChatContext) -> ChatOutcome:
        self.calls += 1
        ctx.trace.flags.extend(self.flags)
        ctx.trace.cost_usd = Decimal("0.000021")
        if ctx.request.stream:
            return StreamOutcome(self._chunks(ctx))
        body = {
            "id": "chatcmpl-up",
            "object": "chat.completion",
            "created": 1,
            "model": "fake-chat",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7},
        }
        return ChatResult(body, Usage(6, 1))

    async def _chunks(self, ctx: ChatContext) -> AsyncIterator[JSON]:
        base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "fake-chat"}
        yield {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
        yield {**base, "choices": [{"index": 0, "delta": {"content": "Par"}, "finish_reason": None}]}
        if self.break_stream:
            raise ProviderBadResponse("stream broke", provider="fake")
        yield {**base, "choices": [{"index": 0, "delta": {"content": "is."}, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8},
        }


def cache() -> ResponseCache:
    return ResponseCache(MemoryBackend(), {ROUTE: RouteCache(ROUTE, CacheConfig())})


async def run(stage: ResponseCaching, ctx: ChatContext, upstream: Upstream) -> tuple[ChatOutcome, list[JSON]]:
    outcome = await stage(ctx, upstream)
    chunks = [c async for c in outcome.chunks] if isinstance(outcome, StreamOutcome) else []
    return outcome, chunks


def header(ctx: ChatContext) -> bytes:
    return dict(ctx.response_headers)[b"x-pilothouse-cache"]


async def test_miss_then_exact_hit_at_no_cost() -> None:
    store = cache()
    stage, upstream = ResponseCaching(store), Upstream()
    first = context()
    await run(stage, first, upstream)
    assert first.trace.fields["cache"] == "miss" and header(first) == b"miss"
    await store.drain()

    second = context()
    outcome, _ = await run(stage, second, upstream)
    assert upstream.calls == 1
    assert isinstance(outcome, ChatResult) and outcome.usage == Usage()
    assert (
        outcome.body["choices"][0]["message"]["content"] == "Paris." and outcome.body["id"] != "chatcmpl-up"
    )
    trace = second.trace
    assert trace.fields["cache"] == "hit_exact" and header(second) == b"hit"
    assert trace.fields["cost_saved_usd"] == Decimal("0.000021") and trace.cost_usd == 0
    assert "cached" in trace.flags
    assert trace.attributes["pilothouse.cache.usage"]["total_tokens"] == 7
    span = next(s for s in trace.spans if s.name == "cache")
    assert span.attributes["pilothouse.cache.outcome"] == "hit_exact"


async def test_another_team_and_a_teamless_key_do_not_hit() -> None:
    store = cache()
    stage, upstream = ResponseCaching(store), Upstream()
    await run(stage, context(), upstream)
    await store.drain()
    for who in (principal("team-2"), principal(None, "key-1"), principal(None, "key-2")):
        ctx = context(who=who)
        await run(stage, ctx, upstream)
        assert ctx.trace.fields["cache"] == "miss"
    assert upstream.calls == 4


async def test_guard_flagged_answers_are_not_stored() -> None:
    store = cache()
    stage = ResponseCaching(store)
    flagged = context()
    await run(stage, flagged, Upstream(flags=("guard_pii",)))
    await store.drain()
    assert flagged.trace.attributes["pilothouse.cache.not_stored"] == "guard_flagged"
    again = context()
    await run(stage, again, Upstream())
    assert again.trace.fields["cache"] == "miss"


async def test_a_completed_stream_is_stored_and_replayed_as_a_stream() -> None:
    store = cache()
    stage, upstream = ResponseCaching(store), Upstream()
    _, chunks = await run(stage, context(stream=True), upstream)
    assert len(chunks) == 5
    await store.drain()

    as_json = context()  # a stored stream serves non-stream requests too
    outcome, _ = await run(stage, as_json, upstream)
    assert isinstance(outcome, ChatResult)
    assert outcome.body["choices"][0]["message"]["content"] == "Paris."
    assert outcome.body["usage"]["completion_tokens"] == 2
    assert as_json.trace.fields["cost_saved_usd"] == Decimal("0.000021")

    replay = context(stream=True)
    _, replayed = await run(stage, replay, upstream)
    assert upstream.calls == 1 and replay.trace.fields["cache"] == "hit_exact"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in replayed if c["choices"])
    assert text == "Paris." and replayed[-1]["usage"]["total_tokens"] == 8


async def test_broken_or_abandoned_streams_are_not_stored() -> None:
    store = cache()
    stage = ResponseCaching(store)
    outcome = await stage(context(stream=True), Upstream(break_stream=True))
    assert isinstance(outcome, StreamOutcome)
    with pytest.raises(ProviderBadResponse):
        async for _ in outcome.chunks:
            pass
    abandoned = await stage(context(stream=True), Upstream())
    assert isinstance(abandoned, StreamOutcome)
    await anext(abandoned.chunks)
    await abandoned.chunks.aclose()
    await store.drain()
    assert len(store.backend) == 0


async def test_cache_control_and_temperature() -> None:
    store = cache()
    stage, upstream = ResponseCaching(store), Upstream()
    no_store = context(headers=[(b"cache-control", b"no-store")])
    await run(stage, no_store, upstream)
    await store.drain()
    assert no_store.trace.fields["cache"] == "miss" and len(store.backend) == 0

    await run(stage, context(), upstream)
    await store.drain()
    no_cache = context(headers=[(b"cache-control", b"no-cache")])
    await run(stage, no_cache, upstream)
    assert no_cache.trace.fields["cache"] == "bypass" and header(no_cache) == b"bypass"

    sampled = context(temperature=0.7)
    await run(stage, sampled, upstream)
    assert sampled.trace.fields["cache"] == "bypass"
    assert upstream.calls == 4


class BrokenBackend(MemoryBackend):
    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("redis is down")


async def test_a_failing_cache_is_a_miss_not_an_error() -> None:
    stage = ResponseCaching(ResponseCache(BrokenBackend(), {ROUTE: RouteCache(ROUTE, CacheConfig())}))
    ctx = context()
    outcome, _ = await run(stage, ctx, Upstream())
    assert isinstance(outcome, ChatResult) and ctx.trace.fields["cache"] == "miss"
    span = next(s for s in ctx.trace.spans if s.name == "cache")
    assert span.status == "error" and span.attributes["error.type"] == "ConnectionError"


async def test_routes_without_cache_config_are_untouched() -> None:
    stage = ResponseCaching(ResponseCache(MemoryBackend(), {}))
    ctx = context()
    await run(stage, ctx, Upstream())
    assert "cache" not in ctx.trace.fields and ctx.response_headers == [] and ctx.trace.spans == []


class StalledRedis:
    """A Redis client whose reads never come back."""

    connection_pool = SimpleNamespace(connection_kwargs={})

    def register_script(self, script: str) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(3600)
        return None


async def test_a_stalled_redis_costs_a_bounded_wait_then_a_miss() -> None:
    backend = RedisBackend(StalledRedis(), op_timeout=0.05)
    stage = ResponseCaching(ResponseCache(backend, {ROUTE: RouteCache(ROUTE, CacheConfig())}))
    ctx = context(headers=[(b"cache-control", b"no-store")])
    started = time.monotonic()
    outcome, _ = await run(stage, ctx, Upstream())
    assert time.monotonic() - started < 1.0
    assert isinstance(outcome, ChatResult) and ctx.trace.fields["cache"] == "miss"
    assert next(s for s in ctx.trace.spans if s.name == "cache").attributes["error.type"] == "TimeoutError"
