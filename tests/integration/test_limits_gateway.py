"""Limits and budgets end to end: the real gateway on loopback, in one process (in-process counters
or Redis) and as two gateway processes sharing one real Redis server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from typer.testing import CliRunner

from pilothouse.cli.main import app
from pilothouse.core.records import TraceRecord
from pilothouse.store import SQLiteStore
from tests.gateway_harness import USER_KEY, Gateway, base_config, fetch_trace, running_gateway

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"authorization": f"Bearer {USER_KEY}"}


async def burst(urls: list[str], n: int, body: dict[str, Any] = BODY) -> list[tuple[int, Any, Any]]:
    """``n`` concurrent requests spread round-robin over the gateways."""
    async with aiohttp.ClientSession(headers=AUTH) as http:

        async def one(i: int) -> tuple[int, Any, Any]:
            async with http.post(urls[i % len(urls)] + CHAT, json=body) as r:
                return r.status, r.headers, orjson.loads(await r.read())

        return await asyncio.gather(*(one(i) for i in range(n)))


def assert_exact_rpm(results: list[tuple[int, Any, Any]], limit: int) -> None:
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(200) == limit, statuses
    assert statuses.count(429) == len(results) - limit, statuses
    for status, headers, body in results:
        if status == 429:
            assert 1 <= int(headers["retry-after"]) <= 60
            assert headers["x-ratelimit-limit-requests"] == str(limit)
            assert headers["x-ratelimit-remaining-requests"] == "0"
            assert body["error"]["code"] == "rate_limit_exceeded"
            assert body["error"]["type"] == "rate_limit_error"
        else:
            assert int(headers["x-ratelimit-remaining-requests"]) < limit


# --- one process ---------------------------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def limited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    config = base_config(tmp_path, limits={"key_default": {"rpm": 10}, "teams": {"qa": {"rpm": 100}}})
    if request.param == "redis":
        config["redis"] = {"url": request.getfixturevalue("redis_url")}
    with running_gateway(config) as gw:
        yield gw


async def test_one_process_burst_admits_exactly_the_rpm_limit(limited: Gateway) -> None:
    results = await burst([limited.base_url], 40)
    assert_exact_rpm(results, 10)
    admitted = next(h for s, h, _ in results if s == 200)
    trace = await fetch_trace(limited, admitted["x-pilothouse-trace-id"])
    span = next(s for s in trace["spans"] if s["name"] == "limits")
    assert span["attributes"]["pilothouse.limits.checked"] == ["key:test-user rpm=10", "team:qa rpm=100"]
    refused = next(h for s, h, _ in results if s == 429)
    trace = await fetch_trace(limited, refused["x-pilothouse-trace-id"])
    assert trace["http_status"] == 429
    span = next(s for s in trace["spans"] if s["name"] == "limits")
    assert span["status"] == "error" and span["attributes"]["pilothouse.limits.denied_by"] == "key:test-user"


async def test_load_shedding_answers_503_with_retry_after(tmp_path: Path) -> None:
    config = base_config(tmp_path, limits={"max_inflight": 2})
    config["providers"]["fake"]["latency_ms"] = 300
    with running_gateway(config) as gw:
        results = await burst([gw.base_url], 6)
        async with aiohttp.ClientSession() as http, http.get(gw.base_url + "/metrics") as r:
            metrics = await r.text()
    statuses = sorted(s for s, _, _ in results)
    assert statuses == [200, 200, 503, 503, 503, 503]
    for status, headers, body in results:
        if status == 503:
            assert headers["retry-after"] == "1"
            assert body["error"]["code"] == "overloaded"
    assert "pilothouse_requests_shed 4" in metrics


async def test_an_abandoned_stream_gives_its_concurrency_slot_back(tmp_path: Path) -> None:
    config = base_config(tmp_path, limits={"keys": {"test-user": {"max_concurrency": 1}}})
    config["providers"]["fake"].update(chunk_delay_ms=50, reply=" ".join(f"w{i}" for i in range(40)))
    with running_gateway(config) as gw:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.post(gw.base_url + CHAT, json={**BODY, "stream": True}) as r:
                assert r.status == 200
                assert (await r.content.readline()).startswith(b"data: ")
                async with http.post(gw.base_url + CHAT, json=BODY) as second:
                    assert second.status == 429
                    assert "concurrent" in (await second.json())["error"]["message"]
                r.close()  # abandon the stream mid-answer
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for _ in range(100):  # the gateway notices the disconnect at its next chunk
                async with http.post(gw.base_url + CHAT, json=BODY) as r:
                    if r.status == 200:
                        break
                    assert r.status == 429
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the abandoned stream kept its slot")


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


async def test_budget_soft_alert_and_hard_stop(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    config = base_config(
        tmp_path,
        budgets=[
            {
                "scope": "team",
                "name": "qa",
                "period": "day",
                "limit_usd": 10,
                "soft_threshold": 0.5,
                "webhook": url,
            }
        ],
    )
    config["providers"]["fake"]["reply"] = "a b c d e"  # 5 output tokens at $1 each
    config["models"][0].update(input_price=0, output_price=1_000_000)
    with running_gateway(config) as gw:
        first, second, third = [(await burst([gw.base_url], 1))[0] for _ in range(3)]
        assert first[0] == 200 and second[0] == 200
        assert third[0] == 402 and third[2]["error"]["code"] == "budget_exceeded"
        assert "daily budget of team 'qa'" in third[2]["error"]["message"]
        for status, headers, _ in (first, second):
            assert status == 200
            trace = await fetch_trace(gw, headers["x-pilothouse-trace-id"])
            assert "budget_soft_limit" in trace["flags"]
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        async with aiohttp.ClientSession() as http, http.get(gw.base_url + "/metrics") as r:
            metrics = await r.text()
    assert len(received) == 1
    assert received[0]["event"] == "budget.soft_threshold" and received[0]["spent_usd"] == "5"
    assert "pilothouse_budget_soft_alerts 1" in metrics
    assert "pilothouse_budget_hard_stops 1" in metrics


# --- two gateway processes sharing one Redis -----------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            assert proc.poll() is None, "gateway exited during start-up"
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("gateway did not become ready")


@contextlib.asynccontextmanager
async def two_gateways(tmp_path: Path, config: dict[str, Any]) -> AsyncIterator[tuple[list[str], Path]]:
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump(config))
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for n in range(2):  # one after the other: both create the configured key at start-up
            port = _free_port()
            log = (tmp_path / f"gateway{n}.log").open("wb")
            proc = subprocess.Popen(  # noqa: ASYNC220  # starting is instant; the wait below is bounded
                [sys.executable, "-m", "pilothouse.cli", "serve", "--config", str(path), "--port", str(port)],
                cwd=tmp_path,
                env={**os.environ, "NO_COLOR": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
            await _wait_ready(urls[-1], proc)
        yield urls, path
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def shared_config(tmp_path: Path, redis_url: str, **extra: Any) -> dict[str, Any]:
    config = base_config(tmp_path, **extra)
    config["redis"] = {"url": redis_url}
    config["server"] = {"drain_seconds": 5}
    return config


async def test_two_processes_admit_exactly_the_rpm_limit(tmp_path: Path, redis_url: str) -> None:
    config = shared_config(tmp_path, redis_url, limits={"keys": {"test-user": {"rpm": 12}}})
    async with two_gateways(tmp_path, config) as (urls, _):
        results = await burst(urls, 60)
        assert_exact_rpm(results, 12)
        served = {h["x-pilothouse-trace-id"] for s, h, _ in results if s == 200}
        assert len(served) == 12
        # Both processes admitted some, and the window is shared: the next burst gets nothing.
        again = await burst(urls, 10)
        assert [s for s, _, _ in again] == [429] * 10


async def test_two_processes_never_overshoot_a_budget_by_more_than_the_cost_in_flight(
    tmp_path: Path, redis_url: str
) -> None:
    """Waves of W concurrent requests, half to each process, $5 each against a $50 budget. At the
    moment the recorded spend reaches $50 at most one wave is in flight, so the final spend must stay
    below $50 + W x $5; and since each wave starts after the previous one was billed, it is exactly
    the three waves that started below the limit."""
    wave, cost, limit = 4, 5, 50
    config = shared_config(
        tmp_path, redis_url, budgets=[{"scope": "team", "name": "qa", "period": "month", "limit_usd": limit}]
    )
    config["providers"]["fake"].update(reply="a b c d e", latency_ms=100)
    config["models"][0].update(input_price=0, output_price=1_000_000)
    async with two_gateways(tmp_path, config) as (urls, path):
        statuses: list[int] = []
        for _ in range(5):
            statuses += [s for s, _, _ in await burst(urls, wave)]
    admitted = statuses.count(200)
    assert statuses.count(402) == len(statuses) - admitted
    assert limit <= admitted * cost < limit + wave * cost
    assert admitted == 12 and statuses[-2 * wave :] == [402] * 2 * wave
    # The store agrees to the nano-dollar (traces were flushed when the processes stopped).
    spend = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "pilothouse.cli", "spend", "--by", "team", "--json", "--config", str(path)],
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(spend.communicate(), timeout=60)
    assert spend.returncode == 0
    rows = orjson.loads(out)
    assert rows == [
        {
            "team": "qa",
            "requests": 20,
            "prompt_tokens": admitted,
            "completion_tokens": admitted * 5,
            "cost_usd": f"{admitted * cost}.000000000",
        }
    ]


def test_spend_report_table(tmp_path: Path) -> None:
    async def fill() -> None:
        store = SQLiteStore(str(tmp_path / "ph.db"))
        try:
            key = await store.create_key(
                name="alice",
                key_hash="h",
                prefix="ph-ab",
                team="support",
                scopes=[],
                models=None,
                expires_at=None,
            )
            now = datetime.now(UTC)
            await store.write_traces(
                [
                    TraceRecord(
                        trace_id=f"t{i}",
                        created_at=now - timedelta(days=40 * i),
                        endpoint="chat.completions",
                        key_id=key.key_id,
                        team_id=key.team_id,
                        served_model="gpt",
                        prompt_tokens=10,
                        completion_tokens=5,
                        cost_usd=Decimal("0.000000125"),
                    )
                    for i in range(2)
                ]
            )
        finally:
            store.close()

    asyncio.run(fill())
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": f"sqlite:///{tmp_path / 'ph.db'}"}}))
    runner = CliRunner()
    month = runner.invoke(app, ["spend", "--config", str(path)], env={"COLUMNS": "200"})
    assert month.exit_code == 0, month.output
    assert "Spend by team" in month.output and "support" in month.output
    assert "0.000000" in month.output and " 1 " in month.output  # this month: one request
    everything = runner.invoke(
        app, ["spend", "--period", "all", "--by", "model", "--json", "--config", str(path)]
    )
    assert orjson.loads(everything.output) == [
        {
            "model": "gpt",
            "requests": 2,
            "prompt_tokens": 20,
            "completion_tokens": 10,
            "cost_usd": "0.000000250",
        }
    ]
    bad = runner.invoke(app, ["spend", "--since", "yesterday", "--config", str(path)])
    assert bad.exit_code == 1
