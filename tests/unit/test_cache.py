"""The response cache's pure parts: keys, policy, replay, similarity, and the in-process backend."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest

from pilothouse.cache import (
    CachedAnswer,
    MemoryBackend,
    ResponseCache,
    RouteCache,
    as_completion,
    cache_key,
    decide,
    tenant_scope,
    unstorable_reason,
)
from pilothouse.cache.similarity import best_match, normalize, pack
from pilothouse.core.completions import CompletionBuilder, chunks_of
from pilothouse.core.traffic import CacheConfig
from pilothouse.core.types import JSON

pytestmark = pytest.mark.unit

TEAM = tenant_scope("team-1", "key-1")


def body(**extra: Any) -> JSON:
    return {
        "model": "support",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "temperature": 0,
        **extra,
    }


def key(data: JSON, *, route: str = "support", scope: str = TEAM) -> str:
    return cache_key(data, route=route, scope=scope).exact


# --- keys ---------------------------------------------------------------------------------------


def test_key_ignores_dict_order_transport_and_attribution() -> None:
    reordered = {
        "temperature": 0.0,
        "messages": [
            {"content": "Be brief.", "role": "system"},
            {"content": "What is the capital of France?", "role": "user", "name": None},
        ],
        "model": "support",
    }
    assert key(reordered) == key(body())
    assert key(body(stream=True, stream_options={"include_usage": True}, user="u-7")) == key(body())
    assert key(body(seed=None)) == key(body())


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.5},
        {"top_p": 0.5},
        {"max_tokens": 10},
        {"stop": ["\n"]},
        {"seed": 3},
        {"n": 2},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
        {"top_k": 5},  # pass-through extensions count too
    ],
)
def test_every_answer_shaping_parameter_changes_the_key(change: JSON) -> None:
    assert key(body(**change)) != key(body())


def test_messages_route_and_tenant_scope_the_key() -> None:
    other_question = body(messages=[{"role": "user", "content": "What is the capital of Spain?"}])
    assert key(other_question) != key(body())
    assert key(body(), route="other-route") != key(body())
    assert key(body(), scope=tenant_scope("team-2", "key-1")) != key(body())
    # A key without a team shares with no one: two team-less keys never collide.
    assert tenant_scope(None, "key-1") != tenant_scope(None, "key-2")
    assert tenant_scope(None, "key-1") != tenant_scope("key-1", "key-1")


def semantic(data: JSON) -> Any:
    return cache_key(data, route="support", scope=TEAM, embedding_model="emb")


def test_semantic_bucket_and_prompt() -> None:
    first = cache_key(body(), route="support", scope=TEAM, embedding_model="emb")
    similar = cache_key(
        body(messages=[body()["messages"][0], {"role": "user", "content": "Capital   of France?"}]),
        route="support",
        scope=TEAM,
        embedding_model="emb",
    )
    assert first.prompt == "What is the capital of France?"
    assert similar.prompt == "Capital of France?"  # whitespace normalized
    assert similar.bucket == first.bucket and similar.exact != first.exact
    # The parameters, the system prompt and the embedding model all split buckets.
    assert semantic(body(response_format={"type": "json_object"})).bucket != first.bucket
    other_system = body(messages=[{"role": "system", "content": "Be long."}, body()["messages"][1]])
    assert semantic(other_system).bucket != first.bucket
    assert cache_key(body(), route="support", scope=TEAM, embedding_model="x").bucket != first.bucket


def test_no_semantic_form_without_a_trailing_text_user_message() -> None:
    tool_turn = body(messages=[*body()["messages"], {"role": "assistant", "content": "Paris"}])
    image = body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    parts = body(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}])
    assert semantic(tool_turn).prompt is None
    assert semantic(image).prompt is None
    assert semantic(parts).prompt == "Hi there"
    assert cache_key(parts, route="r", scope=TEAM) == cache_key(parts, route="r", scope=TEAM)
    assert cache_key(parts, route="r", scope=TEAM).bucket == ""  # exact only: no bucket computed


# --- policy -------------------------------------------------------------------------------------


def test_temperature_policy() -> None:
    config = CacheConfig()
    assert decide(body(), config).lookup
    assert decide(body(temperature=0.0), config).store
    assert decide(body(temperature=0.7), config).bypass
    unpinned = body()
    del unpinned["temperature"]
    assert decide(unpinned, config).bypass  # OpenAI's default is 1.0: sampled
    opted_in = CacheConfig(nonzero_temperature=True)
    assert not decide(body(temperature=0.7), opted_in).bypass
    assert not decide(unpinned, opted_in).bypass
    assert decide(body(n=2), opted_in).reason == "n>1"
    assert decide(body(n=2), opted_in).bypass


def test_cache_control_directives() -> None:
    config = CacheConfig()
    no_cache = decide(body(), config, "no-cache")
    assert (no_cache.lookup, no_cache.store) == (False, True)
    no_store = decide(body(), config, "No-Store")
    assert (no_store.lookup, no_store.store) == (True, False)
    assert decide(body(), config, "no-cache, no-store").bypass
    assert decide(body(), config, "max-age=0").lookup


def completion(content: str | None = "Paris.", finish: str = "stop", **message: Any) -> JSON:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-chat",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    }


def test_what_is_stored() -> None:
    assert unstorable_reason(completion(), []) is None
    assert unstorable_reason(completion(), ["budget_soft_limit"]) is None
    assert unstorable_reason(completion(finish="length"), []) is None
    assert unstorable_reason(completion(), ["guard_pii_redacted"]) == "guard_flagged"
    assert unstorable_reason(completion(finish="content_filter"), []) == "finish_reason"
    assert unstorable_reason(completion(finish="error"), []) == "finish_reason"
    assert unstorable_reason(completion(content=""), []) == "empty"
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert unstorable_reason(completion(content=None, finish="tool_calls", tool_calls=calls), []) is None
    two = completion()
    two["choices"] = two["choices"] * 2
    assert unstorable_reason(two, []) == "choices"


# --- entries and replay -------------------------------------------------------------------------


def test_entry_round_trip_and_unreadable_values() -> None:
    answer = CachedAnswer.from_completion(completion(), Decimal("0.0000125"))
    decoded = CachedAnswer.decode(answer.encode())
    assert decoded == answer
    assert decoded.usage.total_tokens == 9 and decoded.model == "fake-chat"
    assert CachedAnswer.decode(b"not json") is None
    assert CachedAnswer.decode(b'{"v": 99, "completion": {}}') is None


def test_replay_as_completion_has_a_fresh_id() -> None:
    answer = CachedAnswer.from_completion(completion(), Decimal(0))
    served = as_completion(answer)
    assert served["id"] != "chatcmpl-1" and served["id"].startswith("chatcmpl-")
    assert served["model"] == "fake-chat" and served["choices"] == completion()["choices"]
    assert answer.completion["id"] == "chatcmpl-1"  # the entry itself is untouched


@pytest.mark.parametrize(
    "stored",
    [
        completion("A long answer " * 20),
        completion(
            None,
            "tool_calls",
            tool_calls=[
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}},
                {"id": "c2", "type": "function", "function": {"name": "other", "arguments": "{}"}},
            ],
        ),
    ],
)
def test_replayed_chunks_rebuild_the_answer(stored: JSON) -> None:
    chunks = chunks_of(as_completion(CachedAnswer.from_completion(stored, Decimal(0))))
    collector = CompletionBuilder()
    for chunk in chunks:
        collector.add(chunk)
    message = stored["choices"][0]["message"]
    rebuilt = collector.message()
    assert rebuilt == message
    assert collector.finish_reason == stored["choices"][0]["finish_reason"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == stored["usage"]
    assert len({c["id"] for c in chunks}) == 1 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert 3 <= len(chunks) <= 12  # a few chunks, not one per character


# --- similarity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("use_numpy", [True, False])
def test_best_match_is_cosine_and_ignores_other_widths(use_numpy: bool) -> None:
    query = normalize([1.0, 0.0, 0.0])
    near = normalize([0.9, 0.1, 0.0])
    far = normalize([0.0, 1.0, 0.0])
    found = best_match(
        query, [("far", pack(far)), ("near", pack(near)), ("wide", pack([1.0] * 4))], use_numpy=use_numpy
    )
    assert found is not None and found[0] == "near"
    assert found[1] == pytest.approx(0.9 / math.sqrt(0.82), abs=1e-6)
    assert best_match(query, [("wide", pack([1.0] * 4))], use_numpy=use_numpy) is None
    assert best_match(query, [], use_numpy=use_numpy) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class StaticEmbedder:
    """Fixed vectors by text: the threshold logic without a model."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls = 0

    async def embed_texts(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        return [self.vectors[t] for t in texts]


async def test_semantic_threshold_is_inclusive_and_scoped() -> None:
    # cos(a, b) = 0.8 exactly; cos(a, c) = 0.6.
    embedder = StaticEmbedder({"a": [1.0, 0.0], "b": [0.8, 0.6], "c": [0.6, 0.8], "d": [1.0, 0.0]})
    cache = ResponseCache(MemoryBackend(), {})

    def route(threshold: float) -> RouteCache:
        return RouteCache("r", CacheConfig(semantic=True, semantic_threshold=threshold), embedder, "emb")

    def ask(text: str, scope: str = TEAM) -> Any:
        return cache_key(
            body(messages=[{"role": "user", "content": text}]), route="r", scope=scope, embedding_model="emb"
        )

    await cache.store(route(0.8), ask("a"), CachedAnswer.from_completion(completion(), Decimal("0.5")))
    hit = await cache.lookup(route(0.8), ask("b"))
    assert hit.kind == "semantic" and hit.similarity == pytest.approx(0.8)
    assert hit.answer is not None and hit.answer.cost_usd == Decimal("0.5")
    miss = await cache.lookup(route(0.8), ask("c"))
    assert miss.answer is None and miss.similarity == pytest.approx(0.6) and miss.vector is not None
    assert (await cache.lookup(route(0.81), ask("b"))).answer is None
    assert (await cache.lookup(route(0.8), ask("d", tenant_scope("team-2", "k")))).answer is None
    exact = await cache.lookup(route(0.8), ask("a"))
    assert exact.kind == "exact" and embedder.calls == 5  # one per store and lookup; none for exact


# --- in-process backend -------------------------------------------------------------------------


async def test_memory_backend_ttl() -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    await backend.set("k", b"v", ttl=10)
    await backend.add_candidate("b", "k", b"vec", ttl=10)
    clock.now += 9.9
    assert await backend.get("k") == b"v"
    assert await backend.candidates("b") == [("k", b"vec")]
    clock.now += 0.1
    assert await backend.get("k") is None
    assert await backend.candidates("b") == []
    assert len(backend) == 0


async def test_memory_backend_is_a_bounded_lru() -> None:
    backend = MemoryBackend(max_entries=2, max_buckets=2, max_per_bucket=2)
    await backend.set("a", b"1", ttl=60)
    await backend.set("b", b"2", ttl=60)
    assert await backend.get("a") == b"1"  # a is now the most recently used
    await backend.set("c", b"3", ttl=60)
    assert await backend.get("b") is None
    assert await backend.get("a") == b"1" and await backend.get("c") == b"3"

    for member in ("x", "y", "z"):
        await backend.add_candidate("bucket", member, b"v", ttl=60)
    assert [k for k, _ in await backend.candidates("bucket")] == ["y", "z"]
    await backend.add_candidate("other", "o", b"v", ttl=60)
    await backend.candidates("bucket")  # touch: "other" is now the oldest bucket
    await backend.add_candidate("third", "t", b"v", ttl=60)
    assert await backend.candidates("other") == []
    assert len(await backend.candidates("bucket")) == 2
