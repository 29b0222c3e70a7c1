"""Semantic caching in the real gateway with the real local embedder (WordLlama): a paraphrase is a hit
above the route's threshold and a miss below it, never across teams, never with other parameters.

For reference, WordLlama (256 dimensions) scores "What is the capital of France?" against
"What is the capital city of France?" at about 0.92 and against "What is the capital of Germany?"
at about 0.44: the routes below put their thresholds on either side of the paraphrase.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway
from tests.integration.cache_support import (
    HAS_LOCAL_EMBEDDER,
    LOCAL_EMBEDDER_MISSING,
    OTHER_TEAM_KEY,
    ask,
    cache_keys,
    cache_span,
    local_embedder,
    provider_attempts,
    question,
    settle,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.local_model,
    pytest.mark.skipif(not HAS_LOCAL_EMBEDDER, reason=LOCAL_EMBEDDER_MISSING),
]

ORIGINAL = "What is the capital of France?"
PARAPHRASE = "What is the capital city of France?"
UNRELATED = "What is the capital of Germany?"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = base_config(tmp_path_factory.mktemp("semantic"))
    config["keys"] = cache_keys()
    local_embedder(config)

    def route(name: str, threshold: float) -> dict[str, object]:
        cache = {"semantic": True, "semantic_threshold": threshold, "embedding_model": "local-embed"}
        return {"name": name, "deployments": ["fake-chat"], "cache": cache}

    config["routes"] = [route("lenient", 0.85), route("strict", 0.97)]
    with running_gateway(config) as gw:
        yield gw


async def test_a_paraphrase_hits_above_the_threshold(gateway: Gateway) -> None:
    first = await ask(gateway, question(ORIGINAL, "lenient"))
    assert first.cache == "miss"
    await settle(gateway)

    similar = await ask(gateway, question(PARAPHRASE, "lenient"))
    assert similar.cache == "hit" and similar.text == first.text
    trace = await fetch_trace(gateway, similar.trace_id)
    original = await fetch_trace(gateway, first.trace_id)
    assert trace["cache"] == "hit_semantic" and provider_attempts(trace) == 0
    assert Decimal(trace["cost_saved_usd"]) == Decimal(original["cost_usd"]) > 0
    similarity = cache_span(trace)["attributes"]["pilothouse.cache.similarity"]
    assert 0.85 <= similarity < 1.0
    assert cache_span(trace)["attributes"]["pilothouse.cache.embed_ms"] >= 0

    unrelated = await ask(gateway, question(UNRELATED, "lenient"))
    assert unrelated.cache == "miss"
    assert (
        cache_span(await fetch_trace(gateway, unrelated.trace_id))["attributes"][
            "pilothouse.cache.similarity"
        ]
        < 0.85
    )


async def test_the_same_paraphrase_misses_below_a_stricter_threshold(gateway: Gateway) -> None:
    assert (await ask(gateway, question(ORIGINAL, "strict"))).cache == "miss"
    await settle(gateway)
    assert (await ask(gateway, question(ORIGINAL, "strict"))).cache == "hit"  # identical: similarity 1
    paraphrase = await ask(gateway, question(PARAPHRASE, "strict"))
    assert paraphrase.cache == "miss"
    similarity = cache_span(await fetch_trace(gateway, paraphrase.trace_id))["attributes"][
        "pilothouse.cache.similarity"
    ]
    assert 0.85 <= similarity < 0.97


async def test_semantic_hits_stay_in_the_team_and_keep_the_parameters(gateway: Gateway) -> None:
    text = "How many people live in Lisbon?"
    await ask(gateway, question(text, "lenient"))
    await settle(gateway)
    paraphrase = "How many people live in Lisbon today?"
    assert (await ask(gateway, question(paraphrase, "lenient"), key=OTHER_TEAM_KEY)).cache == "miss"
    json_mode = question(paraphrase, "lenient", response_format={"type": "json_object"})
    assert (await ask(gateway, json_mode)).cache == "miss"
    assert (await ask(gateway, question(paraphrase, "lenient"))).cache == "hit"
