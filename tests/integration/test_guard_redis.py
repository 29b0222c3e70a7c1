"""Agent-session limits shared through a real Redis: two limiters stand for two gateway replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from pilothouse.core.guarding import AgentLimitsConfig
from pilothouse.guard.agent import COST_EXCEEDED, LOOP, TOKENS_EXCEEDED
from pilothouse.guard.agent_redis import UNAVAILABLE, RedisSessionLimiter
from pilothouse.guard.errors import AgentLimitExceeded
from tests.gateway_harness import base_config, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    a, b = Redis.from_url(redis_url), Redis.from_url(redis_url)
    yield a, b
    await a.aclose()
    await b.aclose()


def replicas(clients: tuple[Redis, Redis], **limits: Any) -> tuple[RedisSessionLimiter, RedisSessionLimiter]:
    config = AgentLimitsConfig(**limits)
    return RedisSessionLimiter(config, clients[0]), RedisSessionLimiter(config, clients[1])


def call(name: str, arguments: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


async def test_steps_are_counted_across_replicas_exactly(clients: tuple[Redis, Redis]) -> None:
    one, two = replicas(clients, max_steps=5)

    async def step(limiter: RedisSessionLimiter) -> str:
        try:
            await limiter.begin_step("run-1")
        except AgentLimitExceeded as exc:
            return exc.code
        return "ok"

    outcomes = await asyncio.gather(*(step(one if i % 2 else two) for i in range(40)))
    assert outcomes.count("ok") == 5
    assert outcomes.count("agent_step_limit") == 35
    assert (await one.begin_step("run-2")).steps == 1  # another session is untouched


async def test_tokens_cost_and_loops_stop_the_next_step(clients: tuple[Redis, Redis]) -> None:
    one, two = replicas(clients, max_tokens=100, max_cost_usd=Decimal("0.05"), max_identical_calls=3)
    await one.begin_step("t")
    assert await two.record("t", tokens=150, cost_usd=Decimal("0.01"), tool_calls=[]) == [TOKENS_EXCEEDED]
    with pytest.raises(AgentLimitExceeded) as caught:
        await one.begin_step("t")
    assert caught.value.code == "agent_token_limit"

    await one.begin_step("c")
    assert await one.record("c", tokens=1, cost_usd=Decimal("0.06"), tool_calls=[]) == [COST_EXCEEDED]
    with pytest.raises(AgentLimitExceeded, match="cost"):
        await two.begin_step("c")

    for limiter, arguments in ((one, '{"a": 1, "b": 2}'), (two, '{"b": 2, "a": 1}')):
        await limiter.begin_step("l")
        assert (
            await limiter.record("l", tokens=1, cost_usd=Decimal(0), tool_calls=[call("search", arguments)])
            == []
        )
    await one.begin_step("l")
    looped = await one.record(
        "l", tokens=1, cost_usd=Decimal(0), tool_calls=[call("search", '{"b":2,"a":1}')]
    )
    assert looped == [LOOP]
    with pytest.raises(AgentLimitExceeded) as loop:
        await two.begin_step("l")
    assert loop.value.code == "agent_loop_detected" and "search" in loop.value.message


async def test_idle_sessions_expire(clients: tuple[Redis, Redis]) -> None:
    one, _ = replicas(clients, max_steps=1, idle_seconds=0.2)
    await one.begin_step("idle")
    with pytest.raises(AgentLimitExceeded):
        await one.begin_step("idle")
    await asyncio.sleep(0.35)
    assert (await one.begin_step("idle")).steps == 1  # forgotten: it starts afresh


async def test_limits_fail_open_when_redis_is_gone() -> None:
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = RedisSessionLimiter(AgentLimitsConfig(max_steps=1), gone)
        for _ in range(3):
            state = await limiter.begin_step("s")
            assert state.violations == (UNAVAILABLE,)
        assert await limiter.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=[]) == [UNAVAILABLE]
    finally:
        await gone.aclose()


def test_two_gateways_share_one_sessions_steps(tmp_path: Path, redis_url: str) -> None:
    """Wired by the runtime: with ``redis`` configured, a session's steps count across replicas."""
    config = base_config(tmp_path)
    config["redis"] = {"url": redis_url, "key_prefix": "guard-test:"}
    config["routes"] = [{"name": "agent", "deployments": ["fake-chat"]}]
    config["guard"] = {"policies": {"agents": {"agent": {"max_steps": 3}}}, "routes": {"agent": "agents"}}
    body = {"model": "agent", "messages": [{"role": "user", "content": "next step"}]}
    headers = {"x-pilothouse-session": "shared-run"}
    # One store, as replicas share one (the session is namespaced by the key's id).
    with running_gateway(config) as one, running_gateway(config) as two:

        async def run() -> list[int]:
            statuses = []
            for i in range(5):
                gateway = (one, two)[i % 2]
                async with aiohttp.ClientSession(headers={**gateway.user_headers, **headers}) as http:
                    async with http.post(f"{gateway.base_url}/v1/chat/completions", json=body) as r:
                        statuses.append(r.status)
            return statuses

        assert asyncio.run(run()) == [200, 200, 200, 400, 400]
