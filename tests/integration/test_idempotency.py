"""Idempotency keys through the real gateway: a client retry is answered once and billed once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from pilothouse.providers.fake import FakeProvider
from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    config = base_config(tmp_path)
    config["providers"]["fake"]["latency_ms"] = 200  # long enough for a concurrent retry to overlap
    with running_gateway(config) as gw:
        yield gw


async def send(gw: Gateway, key: str | None, content: str = "hi", **extra: Any) -> tuple[int, Any, Any]:
    headers = dict(gw.user_headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {"model": "fake-chat", "messages": [{"role": "user", "content": content}], **extra}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(gw.base_url + "/v1/chat/completions", json=body) as r:
            payload = await r.json() if not extra.get("stream") else (await r.read()).decode()
            return r.status, r.headers, payload


def fake(gw: Gateway) -> FakeProvider:
    provider = gw.runtime.providers["fake"]
    assert isinstance(provider, FakeProvider)
    return provider


async def test_retry_with_same_key_is_replayed_not_billed(gateway: Gateway) -> None:
    s1, h1, first = await send(gateway, "order-42")
    s2, h2, second = await send(gateway, "order-42")
    assert s1 == s2 == 200
    assert second == first
    assert h2["idempotent-replayed"] == "true"
    assert fake(gateway).calls == 1
    replay = await fetch_trace(gateway, h2["x-pilothouse-trace-id"])
    assert "idempotent_replay" in replay["flags"]
    assert replay["cost_usd"] == "0"
    assert float((await fetch_trace(gateway, h1["x-pilothouse-trace-id"]))["cost_usd"]) > 0


async def test_concurrent_retries_call_the_provider_once(gateway: Gateway) -> None:
    results = await asyncio.gather(*(send(gateway, "burst") for _ in range(5)))
    assert {r[0] for r in results} == {200}
    assert len({r[2]["id"] for r in results}) == 1
    assert fake(gateway).calls == 1


async def test_same_key_different_body_is_rejected(gateway: Gateway) -> None:
    assert (await send(gateway, "k1", "first question"))[0] == 200
    status, _, body = await send(gateway, "k1", "another question")
    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_and_optional(gateway: Gateway) -> None:
    await send(gateway, None)
    await send(gateway, None)
    assert fake(gateway).calls == 2  # no key: every request is new


async def test_stream_answer_is_replayed(gateway: Gateway) -> None:
    _, _, first = await send(gateway, "s1", stream=True)
    _, h2, second = await send(gateway, "s1", stream=True)
    assert fake(gateway).calls == 1
    assert h2["idempotent-replayed"] == "true"
    assert second.rstrip().endswith("data: [DONE]")
    assert text_of(first) == text_of(second) == "Hello from the fake provider, nice to meet you."


def text_of(raw: str) -> str:
    chunks = [orjson.loads(e.removeprefix("data: ")) for e in raw.strip().split("\n\n")[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
