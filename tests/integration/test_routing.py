"""Routing and resilience through the real gateway: fallbacks per error class, retries, stream
resume, time-to-first-token limits, cascade, circuit breakers. Upstream faults come from the fake
provider's fault injection (chosen by config)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from pilothouse.providers.fake import FakeProvider
from tests.gateway_harness import Gateway, base_config, fetch_trace, running_gateway

pytestmark = pytest.mark.integration

ANSWER = "The quick brown fox jumps over the lazy dog and keeps on running far away"
FAULTS = {
    "connection": "connection_error",
    "timeout": "timeout",
    "rate_limit": "http_429",
    "server_error": "http_500",
    "unavailable": "http_503",
    "context_window": "context_length",
    "content_policy": "content_policy",
    "bad_response": "malformed_json",
}


def model(name: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": provider, "upstream": f"{provider}-model", **extra}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("routing")
    providers: dict[str, Any] = {
        "good": {"type": "fake", "reply": ANSWER},
        "good2": {"type": "fake", "reply": ANSWER},
        "slow": {"type": "fake", "reply": ANSWER, "latency_ms": 1500},
        "cut": {"type": "fake", "reply": ANSWER, "fault": "broken_stream", "fault_after_chunks": 4},
        "stall": {"type": "fake", "reply": ANSWER, "fault": "stall_stream", "fault_after_chunks": 3},
        "limited": {"type": "fake", "reply": ANSWER, "fault": "http_429", "retry_after": 0.3},
        "notjson": {"type": "fake", "reply": "Sure! The answer is forty-two."},
        "json": {"type": "fake", "reply": '{"answer": 42}'},
        "refuses": {"type": "fake", "reply": "", "finish_reason": "content_filter"},
        "silent": {"type": "fake", "reply": ANSWER, "fault": "no_done"},
        "fast": {"type": "fake", "reply": ANSWER},
        "sluggish": {"type": "fake", "reply": ANSWER, "latency_ms": 60},
    }
    providers.update({f"bad-{k}": {"type": "fake", "fault": v} for k, v in FAULTS.items()})
    models = [
        model("good", "good", input_price=1, output_price=1, prefill=True),
        model("good2", "good2", input_price=1, output_price=1),
        model("slow", "slow"),
        model("cut", "cut", input_price=50, output_price=50),
        model("stall", "stall"),
        model("limited", "limited"),
        model("notjson", "notjson", tier=0, input_price=0.1, output_price=0.1),
        model("json", "json", tier=1, input_price=5, output_price=5),
        model("refuses", "refuses"),
        model("silent", "silent"),
        model("fast", "fast"),
        model("sluggish", "sluggish"),
        model("tiny", "good", context_window=20),
        *[model(f"bad-{k}", f"bad-{k}", input_price=100, output_price=100, timeout=0.3) for k in FAULTS],
    ]
    fast_retry = {"attempts": 2, "backoff_ms": 10, "max_backoff_ms": 1000}
    routes = [
        *[
            {"name": f"fb-{k}", "deployments": [f"bad-{k}"], "fallbacks": ["good"], "retry": fast_retry}
            for k in FAULTS
        ],
        {
            "name": "retry3",
            "deployments": ["bad-unavailable"],
            "fallbacks": ["good"],
            "retry": {"attempts": 3, "backoff_ms": 10},
        },
        {
            "name": "honour-retry-after",
            "deployments": ["limited"],
            "fallbacks": ["good"],
            "retry": {"attempts": 2, "backoff_ms": 1, "max_backoff_ms": 2000},
        },
        {
            "name": "no-fallback-on-policy",
            "deployments": ["bad-content_policy"],
            "fallbacks": ["good"],
            "fallback_on": ["server_error"],
        },
        {"name": "window", "deployments": ["tiny"], "fallbacks": ["good"]},
        {"name": "resume", "deployments": ["cut"], "fallbacks": ["good2", "good"]},
        {"name": "resume-stall", "deployments": ["stall"], "fallbacks": ["good"], "stream_idle_timeout": 0.3},
        {"name": "no-resume", "deployments": ["cut"], "fallbacks": ["good2"]},
        {"name": "ttft", "deployments": ["slow"], "fallbacks": ["good"], "ttft_timeout": 0.2},
        {
            "name": "cascade",
            "strategy": "cascade",
            "deployments": ["json", "notjson"],
            "cascade": {"json_schema": {"type": "object", "required": ["answer"]}},
        },
        {"name": "refusal", "deployments": ["refuses"], "fallbacks": ["good"]},
        {"name": "weighted", "strategy": "weighted", "deployments": ["good", "good2"]},
        {"name": "cost", "strategy": "cost", "deployments": ["json", "notjson"]},
        {"name": "latency", "strategy": "latency", "deployments": ["sluggish", "fast"]},
        {"name": "no-done", "deployments": ["silent"], "stream_idle_timeout": 30},
    ]
    config = base_config(
        tmp,
        providers=providers,
        models=models,
        routes=routes,
        circuit_breaker={"consecutive_failures": 1000, "min_requests": 1000},  # see the breaker test
    )
    with running_gateway(config) as gw:
        yield gw


async def chat(gw: Gateway, route: str, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    body = {"model": route, "messages": [{"role": "user", "content": "Tell me about foxes"}], **extra}
    async with aiohttp.ClientSession(headers=gw.user_headers) as http:
        async with http.post(gw.base_url + "/v1/chat/completions", json=body) as r:
            raw = await r.read()
            if body.get("stream") and r.status == 200:
                return r.status, dict(r.headers), raw.decode()
            return r.status, dict(r.headers), orjson.loads(raw)


async def trace_of(gw: Gateway, headers: dict[str, Any]) -> dict[str, Any]:
    return await fetch_trace(gw, headers.get("X-Pilothouse-Trace-Id") or headers["x-pilothouse-trace-id"])


def attempts(trace: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (s["attributes"]["pilothouse.deployment"], s["status"])
        for s in trace["spans"]
        if s["name"] == "provider.attempt"
    ]


def sse_chunks(raw: str) -> tuple[list[dict[str, Any]], bool]:
    events = [e.removeprefix("data: ") for e in raw.strip().split("\n\n")]
    done = events[-1] == "[DONE]"
    return [orjson.loads(e) for e in events if e != "[DONE]"], done


def joined(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("stream", [False, True])
async def test_each_error_class_falls_back(gateway: Gateway, fault: str, stream: bool) -> None:
    status, headers, body = await chat(gateway, f"fb-{fault}", stream=stream)
    assert status == 200, body
    if stream:
        chunks, done = sse_chunks(body)
        assert done
        assert joined(chunks) == ANSWER
        assert chunks[-1]["model"] == "good"
    else:
        assert body["choices"][0]["message"]["content"] == ANSWER
        assert body["model"] == "good"  # the deployment that served
    trace = await trace_of(gateway, headers)
    tried = attempts(trace)
    assert tried[-1] == ("good", "ok")
    failed = [t for t in tried if t[1] == "error"]
    assert failed
    assert all(name == f"bad-{fault}" for name, _ in failed)
    # A rejected request (context, policy) is never retried on the same model; transient ones are.
    assert len(failed) == (1 if fault in ("context_window", "content_policy") else 2)
    assert trace["served_model"] == "good"
    # Only the serving deployment is billed ($1/M in and out), not the failed attempts ($100/M).
    billed = (trace["prompt_tokens"] + trace["completion_tokens"]) / 1_000_000
    assert float(trace["cost_usd"]) == pytest.approx(billed)


async def test_policy_refusal_not_in_fallback_on_is_returned(gateway: Gateway) -> None:
    status, headers, body = await chat(gateway, "no-fallback-on-policy")
    assert status == 400
    assert body["error"]["code"] == "content_policy_violation"
    assert attempts(await trace_of(gateway, headers)) == [("bad-content_policy", "error")]


async def test_retries_then_falls_back(gateway: Gateway) -> None:
    status, headers, _ = await chat(gateway, "retry3")
    assert status == 200
    assert attempts(await trace_of(gateway, headers)) == [("bad-unavailable", "error")] * 3 + [("good", "ok")]


async def test_retry_after_is_honoured(gateway: Gateway) -> None:
    status, headers, _ = await chat(gateway, "honour-retry-after")
    assert status == 200
    trace = await trace_of(gateway, headers)
    spans = [s for s in trace["spans"] if s["name"] == "provider.attempt"]
    assert [s["attributes"]["pilothouse.deployment"] for s in spans] == ["limited", "limited", "good"]
    gap_ms = spans[1]["start_ms"] - (spans[0]["start_ms"] + spans[0]["duration_ms"])
    assert gap_ms >= 300  # Retry-After: 0.3 s


async def test_context_window_estimated_before_sending(gateway: Gateway) -> None:
    status, headers, body = await chat(gateway, "window", max_tokens=50)  # prompt + 50 > 20
    assert status == 200
    assert body["model"] == "good"
    trace = await trace_of(gateway, headers)
    skips = [s["attributes"] for s in trace["spans"] if s["name"] == "provider.skipped"]
    assert skips == [{"pilothouse.deployment": "tiny", "pilothouse.skip_reason": "context_window"}]
    assert attempts(trace) == [("good", "ok")]


async def test_stream_cut_midway_resumes_on_prefill_fallback(gateway: Gateway) -> None:
    status, headers, raw = await chat(gateway, "resume", stream=True, stream_options={"include_usage": True})
    assert status == 200
    chunks, done = sse_chunks(raw)
    assert done
    assert joined(chunks) == ANSWER  # seamless: the partial answer plus the continuation
    assert len({c["id"] for c in chunks}) == 1
    assert sum(1 for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("role")) == 1
    trace = await trace_of(gateway, headers)
    assert "stream_resumed" in trace["flags"]
    # good2 cannot continue a prefill, so the resume skips it for good.
    assert attempts(trace) == [("cut", "error"), ("good", "ok")]
    assert trace["output"]["content"] == ANSWER
    assert trace["served_model"] == "good"
    assert float(trace["cost_usd"]) < 50 * 10 / 1_000_000  # the broken attempt ($50/M) is not billed


async def test_stalled_stream_detected_within_idle_window(gateway: Gateway) -> None:
    start = time.monotonic()
    status, headers, raw = await chat(gateway, "resume-stall", stream=True)
    elapsed = time.monotonic() - start
    assert status == 200
    chunks, done = sse_chunks(raw)
    assert done
    assert joined(chunks) == ANSWER
    assert elapsed < 3.0  # idle window 0.3 s; the stalled upstream would hang for an hour
    trace = await trace_of(gateway, headers)
    failed = next(s for s in trace["spans"] if s["name"] == "provider.attempt" and s["status"] == "error")
    assert failed["attributes"]["error.type"] == "upstream_timeout"
    assert failed["duration_ms"] >= 300


async def test_broken_stream_without_capable_fallback_ends_with_clear_error(gateway: Gateway) -> None:
    status, headers, raw = await chat(gateway, "no-resume", stream=True)
    assert status == 200
    chunks, done = sse_chunks(raw)
    assert not done
    assert chunks[-1] == {"error": chunks[-1]["error"]}
    assert chunks[-1]["error"]["code"] == "upstream_bad_response"
    assert chunks[-2]["choices"][0]["finish_reason"] == "error"
    assert joined(chunks[:-1])  # the partial text was sent, and is marked as failed
    trace = await trace_of(gateway, headers)
    assert trace["status"] == "error"


async def test_ttft_limit_fails_over_slow_starter(gateway: Gateway) -> None:
    start = time.monotonic()
    status, headers, raw = await chat(gateway, "ttft", stream=True)
    assert status == 200
    assert time.monotonic() - start < 1.4  # the slow deployment needs 1.5 s to start
    chunks, done = sse_chunks(raw)
    assert done
    assert chunks[-1]["model"] == "good"
    trace = await trace_of(gateway, headers)
    assert attempts(trace)[0] == ("slow", "error")


async def test_cascade_escalates_invalid_json(gateway: Gateway) -> None:
    status, headers, body = await chat(gateway, "cascade")
    assert status == 200
    assert orjson.loads(body["choices"][0]["message"]["content"]) == {"answer": 42}
    assert body["model"] == "json"
    trace = await trace_of(gateway, headers)
    assert attempts(trace) == [("notjson", "ok"), ("json", "ok")]  # cheap tier first
    assert "escalated" in trace["flags"]
    assert trace["attributes"]["escalations"] == [{"from": "notjson", "reason": "invalid_json"}]


async def test_cascade_streams_the_escalated_answer(gateway: Gateway) -> None:
    status, _, raw = await chat(gateway, "cascade", stream=True)
    assert status == 200
    chunks, done = sse_chunks(raw)
    assert done
    assert orjson.loads(joined(chunks)) == {"answer": 42}


async def test_content_filter_refusal_falls_back(gateway: Gateway) -> None:
    status, _, body = await chat(gateway, "refusal")
    assert status == 200
    assert body["model"] == "good"


@pytest.fixture
def breaker_gateway(tmp_path: Path) -> Iterator[Gateway]:
    config = base_config(
        tmp_path,
        providers={"flaky": {"type": "fake", "fault": "http_503"}, "good": {"type": "fake", "reply": ANSWER}},
        models=[model("flaky", "flaky"), model("good", "good")],
        routes=[
            {"name": "breaker", "deployments": ["flaky"], "fallbacks": ["good"], "retry": {"attempts": 1}}
        ],
        circuit_breaker={"consecutive_failures": 3, "cooldown_seconds": 0.5, "min_requests": 100},
    )
    with running_gateway(config) as gw:
        yield gw


async def test_circuit_breaker_opens_and_half_open_probe_restores(breaker_gateway: Gateway) -> None:
    gateway = breaker_gateway
    flaky = gateway.runtime.providers["flaky"]
    assert isinstance(flaky, FakeProvider)
    for _ in range(3):  # consecutive_failures: 3
        assert (await chat(gateway, "breaker"))[0] == 200
    calls = flaky.calls
    assert calls == 3
    status, headers, _ = await chat(gateway, "breaker")
    assert status == 200
    trace = await trace_of(gateway, headers)
    assert flaky.calls == calls  # open: no traffic, not even a timeout's worth
    assert [
        s["attributes"]["pilothouse.skip_reason"] for s in trace["spans"] if s["name"] == "provider.skipped"
    ] == ["circuit_open"]
    flaky.options = flaky.options.model_copy(update={"fault": "none"})  # the upstream recovers
    await asyncio.sleep(0.6)  # cooldown 0.5 s
    status, _, body = await chat(gateway, "breaker")
    assert body["model"] == "flaky"  # the half-open probe went through and closed the circuit
    assert (await chat(gateway, "breaker"))[2]["model"] == "flaky"
    assert flaky.calls == calls + 2


async def test_weighted_and_cost_strategies(gateway: Gateway) -> None:
    served = [(await chat(gateway, "weighted"))[2]["model"] for _ in range(30)]
    assert {"good", "good2"} == set(served)
    assert (await chat(gateway, "cost"))[2]["model"] == "notjson"  # the cheaper deployment first


async def test_latency_strategy_prefers_the_faster_deployment(gateway: Gateway) -> None:
    served = [(await chat(gateway, "latency"))[2]["model"] for _ in range(12)]
    assert set(served[:2]) == {"sluggish", "fast"}  # each measured once
    assert served[2:].count("fast") >= 9


async def test_stream_without_done_is_finalised_promptly_with_usage(gateway: Gateway) -> None:
    start = time.monotonic()
    status, headers, raw = await chat(gateway, "no-done", stream=True, stream_options={"include_usage": True})
    assert time.monotonic() - start < 5  # the idle window is 30 s; the answer was complete long before
    assert status == 200
    chunks, done = sse_chunks(raw)
    assert done
    assert joined(chunks) == ANSWER
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    trace = await trace_of(gateway, headers)
    assert "usage_estimated" in trace["flags"]
    assert trace["status"] == "ok"
