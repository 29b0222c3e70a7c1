"""The real gateway on loopback (uvicorn, SQLite, background trace writer) with the fake provider
standing in for upstreams: these tests are about the gateway's own logic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    config = base_config(tmp_path)
    config["providers"].update(
        {
            "down": {"type": "fake", "fault": "http_503"},
            "limited": {"type": "fake", "fault": "http_429", "retry_after": 7},
            "broken": {"type": "fake", "fault": "http_500"},
            "hanging": {"type": "fake", "fault": "timeout"},
            "refused": {"type": "fake", "fault": "connection_error"},
            "garbled": {"type": "fake", "fault": "malformed_json"},
            "cut": {"type": "fake", "fault": "broken_stream", "fault_after_chunks": 3},
        }
    )
    config["models"] += [
        {"name": "m-down", "provider": "down", "upstream": "x"},
        {"name": "m-limited", "provider": "limited", "upstream": "x"},
        {"name": "m-broken", "provider": "broken", "upstream": "x"},
        {"name": "m-hanging", "provider": "hanging", "upstream": "x", "timeout": 0.3},
        {"name": "m-refused", "provider": "refused", "upstream": "x"},
        {"name": "m-garbled", "provider": "garbled", "upstream": "x"},
        {"name": "m-cut", "provider": "cut", "upstream": "x"},
    ]
    config["server"] = {"max_body_bytes": 64 * 1024}
    with running_gateway(config) as gw:
        yield gw


def chat_body(model: str = "fake-chat", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Hello there"}], **extra}


async def post(
    gw: Gateway, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            gw.base_url + path, data=data, headers=gw.user_headers if headers is None else headers
        ) as r:
            raw = await r.read()
            return r.status, r.headers, orjson.loads(raw) if raw else None


def assert_openai_error(body: Any, type_: str, code: str | None = None) -> None:
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    assert err["type"] == type_
    if code is not None:
        assert err["code"] == code


async def test_completion_has_trace_with_tokens_cost_and_spans(gateway: Gateway) -> None:
    status, headers, body = await post(gateway, CHAT, chat_body(temperature=0.2))
    assert status == 200
    assert body["choices"][0]["message"]["content"] == "Hello from the fake provider, nice to meet you."
    trace = await fetch_trace(gateway, headers["x-pilothouse-trace-id"])
    assert trace["status"] == "ok"
    assert trace["requested_model"] == "fake-chat"
    assert trace["served_model"] == "fake-chat"
    assert trace["provider"] == "fake"
    assert trace["params"] == {"temperature": 0.2}
    assert trace["messages"] == [{"role": "user", "content": "Hello there"}]
    assert trace["output"]["content"] == body["choices"][0]["message"]["content"]
    assert (trace["prompt_tokens"], trace["completion_tokens"]) == (2, 9)
    # 2 tokens at $1.5/M in + 9 tokens at $2/M out
    assert trace["cost_usd"] == "0.000021"
    assert trace["latency_ms"] > 0
    assert [s["name"] for s in trace["spans"]] == ["auth", "provider.attempt"]
    attempt = trace["spans"][1]["attributes"]
    assert attempt["gen_ai.request.model"] == "fake-model"
    assert attempt["gen_ai.usage.output_tokens"] == 9


async def test_stream_sends_chunks_usage_and_done(gateway: Gateway) -> None:
    body = chat_body(stream=True, stream_options={"include_usage": True})
    async with aiohttp.ClientSession(headers=gateway.user_headers) as http:
        async with http.post(gateway.base_url + CHAT, json=body) as r:
            assert r.status == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            trace_id = r.headers["x-pilothouse-trace-id"]
            raw = (await r.read()).decode()
    events = [e.removeprefix("data: ") for e in raw.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from the fake provider, nice to meet you."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9
    trace = await fetch_trace(gateway, trace_id)
    assert trace["stream"] is True
    assert trace["ttft_ms"] is not None and 0 < trace["ttft_ms"] <= trace["latency_ms"]
    assert trace["output"]["content"] == text
    assert trace["completion_tokens"] == 9 and trace["finish_reason"] == "stop"
    spans = {s["name"]: s for s in trace["spans"]}
    assert set(spans) == {"auth", "provider.attempt", "stream"}
    assert spans["stream"]["attributes"]["pilothouse.chunks"] == len(chunks)
    assert spans["provider.attempt"]["attributes"]["pilothouse.ttft_ms"] > 0


async def test_stream_hides_usage_unless_asked(gateway: Gateway) -> None:
    async with aiohttp.ClientSession(headers=gateway.user_headers) as http:
        async with http.post(gateway.base_url + CHAT, json=chat_body(stream=True)) as r:
            raw = (await r.read()).decode()
            trace_id = r.headers["x-pilothouse-trace-id"]
    chunks = [orjson.loads(e.removeprefix("data: ")) for e in raw.strip().split("\n\n")[:-1]]
    assert all("usage" not in c for c in chunks)
    # ...but the trace still has it, because the gateway always asks the provider for usage.
    assert (await fetch_trace(gateway, trace_id))["completion_tokens"] == 9


async def test_stream_broken_midway_ends_with_error_event_not_done(gateway: Gateway) -> None:
    async with aiohttp.ClientSession(headers=gateway.user_headers) as http:
        async with http.post(gateway.base_url + CHAT, json=chat_body("m-cut", stream=True)) as r:
            assert r.status == 200
            raw = (await r.read()).decode()
            trace_id = r.headers["x-pilothouse-trace-id"]
    events = raw.strip().split("\n\n")
    assert "[DONE]" not in raw
    last = orjson.loads(events[-1].removeprefix("data: "))
    assert_openai_error(last, "api_error", "upstream_bad_response")
    trace = await fetch_trace(gateway, trace_id)
    assert trace["status"] == "error" and trace["error_code"] == "upstream_bad_response"
    failed = {s["name"]: s["status"] for s in trace["spans"]}
    assert failed == {"auth": "ok", "provider.attempt": "error", "stream": "error"}


@pytest.mark.parametrize(
    ("model", "status", "type_", "code"),
    [
        ("m-down", 503, "api_error", "upstream_unavailable"),
        ("m-limited", 429, "rate_limit_error", "upstream_rate_limited"),
        ("m-broken", 502, "api_error", "upstream_error"),
        ("m-hanging", 504, "api_error", "upstream_timeout"),
        ("m-refused", 503, "api_error", "upstream_unavailable"),
        ("m-garbled", 502, "api_error", "upstream_bad_response"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_provider_failures_map_to_openai_errors(
    gateway: Gateway, model: str, status: int, type_: str, code: str, stream: bool
) -> None:
    got, headers, body = await post(gateway, CHAT, chat_body(model, stream=stream))
    assert got == status
    assert_openai_error(body, type_, code)
    if model == "m-limited":
        assert headers["retry-after"] == "7"
    trace = await fetch_trace(gateway, headers["x-pilothouse-trace-id"])
    assert trace["status"] == "error" and trace["http_status"] == status and trace["error_code"] == code
    attempt = trace["spans"][-1]
    assert attempt["name"] == "provider.attempt" and attempt["status"] == "error"
    assert attempt["attributes"]["error.type"] == code


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"model": "fake-chat"}', 422, "invalid_request"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', 422, "invalid_request"),
        (b'{"model": "fake-chat", "messages": [{"role": "wizard", "content": "x"}]}', 422, "invalid_request"),
        (b'{"model": "fake-chat", "messages": [], "stream": "yes"}', 422, "invalid_request"),
        (
            b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "temperature": 9}',
            422,
            "invalid_request",
        ),
        (
            b'{"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model_not_found",
        ),
        (b'{"model": "fake-embed", "messages": [{"role": "user", "content": "x"}]}', 404, "model_not_found"),
    ],
)
async def test_bad_requests_get_openai_errors(gateway: Gateway, raw: bytes, status: int, code: str) -> None:
    got, headers, body = await post(gateway, CHAT, raw)
    assert got == status
    assert body["error"]["code"] == code
    assert headers["x-pilothouse-trace-id"]


async def test_validation_error_names_the_parameter(gateway: Gateway) -> None:
    _, _, body = await post(
        gateway, CHAT, {"model": "fake-chat", "messages": [{"role": "user", "content": 5}]}
    )
    assert body["error"]["param"].startswith("messages[0].content")


async def test_oversized_body_gets_413(gateway: Gateway) -> None:
    big = chat_body(messages=[{"role": "user", "content": "x" * 100_000}])
    status, _, body = await post(gateway, CHAT, big)
    assert status == 413
    assert_openai_error(body, "invalid_request_error", "request_too_large")


async def test_oversized_chunked_body_gets_413(gateway: Gateway) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    async with aiohttp.ClientSession(headers=gateway.user_headers) as http:
        async with http.post(gateway.base_url + CHAT, data=chunks()) as r:
            assert r.status == 413


async def test_unknown_url_is_404_in_openai_shape(gateway: Gateway) -> None:
    status, headers, body = await post(gateway, "/v1/nothing", {})
    assert status == 404
    assert_openai_error(body, "not_found_error", "unknown_url")
    assert headers["x-pilothouse-trace-id"]


async def test_embeddings_and_models(gateway: Gateway) -> None:
    status, headers, body = await post(
        gateway, "/v1/embeddings", {"model": "fake-embed", "input": ["a b", "c"]}
    )
    assert status == 200
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == 8
    trace = await fetch_trace(gateway, headers["x-pilothouse-trace-id"])
    assert trace["endpoint"] == "embeddings" and trace["prompt_tokens"] == 3
    async with aiohttp.ClientSession(headers=gateway.user_headers) as http:
        async with http.get(gateway.base_url + "/v1/models") as r:
            models = await r.json()
            assert r.headers["x-pilothouse-trace-id"]
    assert {m["id"] for m in models["data"]} >= {"fake-chat", "fake-embed", "m-down"}


async def test_health_and_readiness(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.base_url + "/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        async with http.get(gateway.base_url + "/readyz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ready"


async def test_thousand_concurrent_requests_all_traced(gateway: Gateway) -> None:
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(headers=gateway.user_headers, connector=connector) as http:

        async def one(i: int) -> str:
            body = chat_body(stream=i % 2 == 0)
            async with http.post(gateway.base_url + CHAT, json=body) as r:
                await r.read()
                assert r.status == 200
                return r.headers["x-pilothouse-trace-id"]

        ids = await asyncio.gather(*(one(i) for i in range(1000)))
    assert len(set(ids)) == 1000
    writer = gateway.runtime.traces
    for _ in range(500):
        if writer.pending == 0 and writer.written >= 1000:
            break
        await asyncio.sleep(0.02)
    stored = await asyncio.to_thread(_count_stored, gateway, ids)
    assert stored == 1000


def _count_stored(gateway: Gateway, ids: list[str]) -> int:
    import sqlite3

    conn = sqlite3.connect(gateway.runtime.store.path)
    try:
        placeholders = ",".join("?" * len(ids))
        return int(
            conn.execute(f"SELECT count(*) FROM traces WHERE trace_id IN ({placeholders})", ids).fetchone()[0]
        )
    finally:
        conn.close()


async def test_metrics_endpoint_reports_requests_tokens_and_latency(gateway: Gateway) -> None:
    await post(gateway, CHAT, chat_body())
    await post(gateway, CHAT, chat_body("m-down"))
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            async with http.get(gateway.base_url + "/metrics") as r:
                assert r.status == 200
                assert r.headers["content-type"].startswith("text/plain")
                text = await r.text()
            if 'code="upstream_unavailable"' in text:
                break
            await asyncio.sleep(0.02)
    assert 'pilothouse_requests_total{endpoint="chat.completions",model="fake-chat",status="200"} 1' in text
    assert (
        'pilothouse_errors_total{endpoint="chat.completions",model="m-down",code="upstream_unavailable"} 1'
        in text
    )
    assert 'pilothouse_tokens_total{model="fake-chat",deployment="fake-chat",type="output"} 9' in text
    labels = '{endpoint="chat.completions",model="fake-chat",le="+Inf"}'
    bucket = "pilothouse_request_duration_seconds_bucket" + labels
    assert f"{bucket} 1" in text
    assert 'pilothouse_provider_attempts_total{deployment="m-down",status="error"}' in text
    assert "pilothouse_trace_queue_pending" in text


async def test_embedding_dimensions_are_bounded(gateway: Gateway) -> None:
    status, _, body = await post(
        gateway, "/v1/embeddings", {"model": "fake-embed", "input": "x", "dimensions": 10**9}
    )
    assert status == 422
    assert body["error"]["param"] == "dimensions"
