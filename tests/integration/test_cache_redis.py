"""The response cache over a real Redis server: the backend's TTL and bounds, and two gateway processes'
worth of runtimes sharing one cache (an answer stored by one is a hit on the other).

The server is the session's (``tests/services.py``): emptied before each test, which skips where
``redis-server`` is missing and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from pilothouse.cache import RedisBackend
from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway
from tests.integration.cache_support import (
    HAS_LOCAL_EMBEDDER,
    LOCAL_EMBEDDER_MISSING,
    OTHER_TEAM_KEY,
    ask,
    cache_keys,
    local_embedder,
    provider_attempts,
    question,
    settle,
)

pytestmark = pytest.mark.integration

_prefixes = itertools.count()


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


def prefix() -> str:
    return f"t{next(_prefixes)}:"  # each test its own keyspace


# --- the backend --------------------------------------------------------------------------------


async def test_entries_expire_with_their_ttl(client: Redis) -> None:
    p = prefix()
    backend = RedisBackend(client, prefix=p)
    await backend.set("k", b"\x00binary\xff", ttl=30)
    assert await backend.get("k") == b"\x00binary\xff"
    assert 0 < await client.pttl(f"{p}cache:e:k") <= 30_000
    await backend.set("short", b"v", ttl=1)
    await backend.add_candidate("b", "short", b"\x01\x02\x03\x04", ttl=1)
    assert await backend.candidates("b") == [("short", b"\x01\x02\x03\x04")]
    await asyncio.sleep(1.1)
    assert await backend.get("short") is None
    assert await backend.candidates("b") == []


async def test_buckets_are_bounded_and_expire(client: Redis) -> None:
    p = prefix()
    backend = RedisBackend(client, prefix=p, max_per_bucket=2)
    for member in ("x", "y", "z"):
        await backend.add_candidate("b", member, b"vect", ttl=60)
    assert sorted(k for k, _ in await backend.candidates("b")) == ["y", "z"]
    assert await client.zcard(f"{p}cache:z:{{b}}") == 2
    for key in (f"{p}cache:v:{{b}}", f"{p}cache:z:{{b}}"):
        assert 0 < await client.ttl(key) <= 60


def test_a_decoding_client_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisBackend(Redis.from_url(redis_url, decode_responses=True))


# --- two gateways, one cache --------------------------------------------------------------------


def shared_config(tmp_path: Path, redis_url: str, key_prefix: str, *, semantic: bool) -> dict[str, Any]:
    # Replicas share the store as well as Redis: the same keys and teams (ids scope the cache).
    config = base_config(tmp_path)
    config["keys"] = cache_keys()
    config["redis"] = {"url": redis_url, "key_prefix": key_prefix}
    cache: dict[str, Any] = {"ttl_seconds": 120}
    if semantic:
        local_embedder(config)
        cache.update(semantic=True, semantic_threshold=0.85, embedding_model="local-embed")
    config["routes"] = [{"name": "support", "deployments": ["fake-chat"], "cache": cache}]
    return config


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[tuple[Gateway, Gateway]]:
    semantic = bool(getattr(request, "param", False))
    p = prefix()
    with (
        running_gateway(shared_config(tmp_path, redis_url, p, semantic=semantic)) as a,
        running_gateway(shared_config(tmp_path, redis_url, p, semantic=semantic)) as b,
    ):
        yield a, b


async def test_an_answer_from_one_gateway_is_a_hit_on_the_other(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    body = question("What is the tallest mountain in the Alps?")
    first = await ask(a, body)
    assert first.cache == "miss"
    await settle(a)

    second = await ask(b, body)
    assert second.cache == "hit" and second.text == first.text
    trace = await fetch_trace(b, second.trace_id)
    assert trace["cache"] == "hit_exact" and provider_attempts(trace) == 0
    assert Decimal(trace["cost_saved_usd"]) == Decimal((await fetch_trace(a, first.trace_id))["cost_usd"]) > 0
    assert (await ask(b, body, key=OTHER_TEAM_KEY)).cache == "miss"

    streamed = await ask(b, {**body, "stream": True})
    assert streamed.cache == "hit" and streamed.text == first.text


@pytest.mark.local_model
@pytest.mark.skipif(not HAS_LOCAL_EMBEDDER, reason=LOCAL_EMBEDDER_MISSING)
@pytest.mark.parametrize("pair", [True], indirect=True, ids=["semantic"])
async def test_a_paraphrase_is_a_semantic_hit_across_gateways(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    first = await ask(a, question("What is the capital of France?"))
    assert first.cache == "miss"
    await settle(a)

    similar = await ask(b, question("What is the capital city of France?"))
    assert similar.cache == "hit" and similar.text == first.text
    assert (await fetch_trace(b, similar.trace_id))["cache"] == "hit_semantic"
    assert (await ask(b, question("What is the capital of Germany?"))).cache == "miss"
    assert (await ask(b, question("What is the capital city of France?"), key=OTHER_TEAM_KEY)).cache == "miss"
