"""Helpers shared by the response-cache integration tests: keys in two teams, requests, traces."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tests.gateway_harness import USER_KEY, Gateway

CHAT = "/v1/chat/completions"
SAME_TEAM_KEY = "ph-test-qa-second-key-0123456789ab"  # team qa, like USER_KEY
OTHER_TEAM_KEY = "ph-test-ops-key-0123456789abcdefgh"  # team ops
NO_TEAM_KEY = "ph-test-no-team-key-0123456789abcd"

HAS_LOCAL_EMBEDDER = importlib.util.find_spec("wordllama") is not None
LOCAL_EMBEDDER_MISSING = "needs the 'local' extra (wordllama) for real embeddings"


def cache_keys() -> list[dict[str, Any]]:
    return [
        {"name": "test-user", "team": "qa", "secret": USER_KEY},
        {"name": "qa-second", "team": "qa", "secret": SAME_TEAM_KEY},
        {"name": "ops", "team": "ops", "secret": OTHER_TEAM_KEY},
        {"name": "loner", "secret": NO_TEAM_KEY},
    ]


def local_embedder(config: dict[str, Any]) -> None:
    """Add the real local embedder (WordLlama, no chat model loaded) as ``local-embed``."""
    config["providers"]["local"] = {"type": "local"}
    config["models"].append(
        {"name": "local-embed", "provider": "local", "upstream": "wordllama", "kind": "embedding"}
    )


def question(text: str, model: str = "support", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "You answer geography questions in one sentence."},
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        **extra,
    }


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # the JSON answer, or the list of SSE chunks of a stream

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-pilothouse-cache")

    @property
    def trace_id(self) -> str:
        return self.headers["x-pilothouse-trace-id"]

    @property
    def text(self) -> str:
        if isinstance(self.body, list):
            return "".join(
                c["choices"][0]["delta"].get("content") or "" for c in self.body if c.get("choices")
            )
        content: str = self.body["choices"][0]["message"]["content"]
        return content


async def ask(gw: Gateway, body: dict[str, Any], *, key: str = USER_KEY, **headers: str) -> Reply:
    sent = {"authorization": f"Bearer {key}", **headers}
    async with aiohttp.ClientSession() as http:
        async with http.post(gw.base_url + CHAT, data=orjson.dumps(body), headers=sent) as r:
            raw = await r.read()
            got = {k.lower(): v for k, v in r.headers.items()}
    if got.get("content-type", "").startswith("text/event-stream"):
        events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        return Reply(r.status, got, [orjson.loads(e) for e in events[:-1]])
    return Reply(r.status, got, orjson.loads(raw))


async def settle(*gateways: Gateway) -> None:
    """Wait until the gateways' background cache stores are done (they run after the response)."""
    for _ in range(500):
        if all(gw.runtime.cache is not None and gw.runtime.cache.pending == 0 for gw in gateways):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("cache stores did not finish")


def cache_span(trace: dict[str, Any]) -> dict[str, Any]:
    span: dict[str, Any] = next(s for s in trace["spans"] if s["name"] == "cache")
    return span


def provider_attempts(trace: dict[str, Any]) -> int:
    return sum(1 for s in trace["spans"] if s["name"] == "provider.attempt")
