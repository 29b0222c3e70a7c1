"""The response cache in the real gateway, in process (no Redis): exact hits with their saving in the
trace, streams served from cache, tenant isolation, bypasses. The fake provider's call counter and
the traces' provider spans prove when the provider was not called."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from pilothouse.providers.fake import FakeProvider
from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway
from tests.integration.cache_support import (
    NO_TEAM_KEY,
    OTHER_TEAM_KEY,
    SAME_TEAM_KEY,
    ask,
    cache_keys,
    cache_span,
    provider_attempts,
    question,
    settle,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = base_config(tmp_path_factory.mktemp("cache"))
    config["keys"] = cache_keys()
    config["routes"] = [
        {"name": "support", "deployments": ["fake-chat"], "cache": {"ttl_seconds": 600}},
        {"name": "uncached", "deployments": ["fake-chat"]},
    ]
    with running_gateway(config) as gw:
        yield gw


def calls(gw: Gateway) -> int:
    provider = gw.runtime.providers["fake"]
    assert isinstance(provider, FakeProvider)
    return provider.calls


async def test_identical_request_is_served_from_cache_with_saving_in_trace(gateway: Gateway) -> None:
    body = question("Which river runs through Paris?")
    first = await ask(gateway, body)
    assert first.status == 200 and first.cache == "miss"
    await settle(gateway)
    before = calls(gateway)

    second = await ask(gateway, body)
    assert second.status == 200 and second.cache == "hit"
    assert calls(gateway) == before
    assert second.text == first.text and second.body["model"] == first.body["model"] == "fake-chat"
    assert second.body["id"] != first.body["id"]
    assert second.body["usage"] == first.body["usage"]

    original = await fetch_trace(gateway, first.trace_id)
    cached = await fetch_trace(gateway, second.trace_id)
    assert original["cache"] == "miss" and Decimal(original["cost_usd"]) > 0
    assert cached["cache"] == "hit_exact" and "cached" in cached["flags"]
    assert Decimal(cached["cost_saved_usd"]) == Decimal(original["cost_usd"])
    assert Decimal(cached["cost_usd"]) == 0 and cached["prompt_tokens"] == 0
    assert cached["attributes"]["pilothouse.cache.usage"] == first.body["usage"]
    assert provider_attempts(cached) == 0 and provider_attempts(original) == 1
    assert cache_span(cached)["attributes"]["pilothouse.cache.outcome"] == "hit_exact"
    assert cached["output"]["content"] == first.text and cached["served_model"] == "fake-chat"


async def test_streams_are_stored_and_served_from_cache(gateway: Gateway) -> None:
    body = question("Name the longest river in France.", stream=True, stream_options={"include_usage": True})
    first = await ask(gateway, body)
    assert first.cache == "miss"
    await settle(gateway)
    before = calls(gateway)

    replay = await ask(gateway, body)
    assert replay.cache == "hit" and calls(gateway) == before
    assert replay.text == first.text
    assert replay.body[-1]["usage"] == first.body[-1]["usage"]
    assert replay.body[-2]["choices"][0]["finish_reason"] == "stop"
    plain = await ask(gateway, {k: v for k, v in body.items() if k not in ("stream", "stream_options")})
    assert plain.cache == "hit" and plain.text == first.text  # one entry serves both forms
    trace = await fetch_trace(gateway, replay.trace_id)
    assert trace["stream"] and trace["cache"] == "hit_exact" and Decimal(trace["cost_saved_usd"]) > 0


async def test_no_cross_team_hits(gateway: Gateway) -> None:
    body = question("What is the capital of Belgium?")
    assert (await ask(gateway, body)).cache == "miss"
    await settle(gateway)

    assert (await ask(gateway, body, key=SAME_TEAM_KEY)).cache == "hit"  # answers are shared in a team
    before = calls(gateway)
    other = await ask(gateway, body, key=OTHER_TEAM_KEY)
    loner = await ask(gateway, body, key=NO_TEAM_KEY)
    assert other.cache == "miss" and loner.cache == "miss"
    assert calls(gateway) == before + 2


async def test_bypasses(gateway: Gateway) -> None:
    body = question("What is the capital of Portugal?")
    await ask(gateway, body)
    await settle(gateway)

    fresh = await ask(gateway, body, **{"cache-control": "no-cache"})
    assert fresh.cache == "bypass"
    assert cache_span(await fetch_trace(gateway, fresh.trace_id))["attributes"][
        "pilothouse.cache.reason"
    ] == ("no-cache")
    sampled = await ask(gateway, {**body, "temperature": 0.8})
    unpinned = await ask(gateway, {k: v for k, v in body.items() if k != "temperature"})
    assert sampled.cache == "bypass" and unpinned.cache == "bypass"
    assert (await ask(gateway, {**body, "max_tokens": 50})).cache == "miss"  # another parameter, another key

    not_stored = question("What is the capital of Austria?")
    await ask(gateway, not_stored, **{"cache-control": "no-store"})
    await settle(gateway)
    assert (await ask(gateway, not_stored)).cache == "miss"

    uncached = await ask(gateway, question("Hi", model="uncached"))
    assert uncached.status == 200 and uncached.cache is None
    assert (await fetch_trace(gateway, uncached.trace_id))["cache"] is None
