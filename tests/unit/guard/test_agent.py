"""Agent-session limits: steps, tokens, cost, identical-call loops, idle expiry and the LRU bound."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from pilothouse.core.errors import InvalidRequest
from pilothouse.core.guarding import AgentLimitsConfig
from pilothouse.guard.agent import COST_EXCEEDED, LOOP, TOKENS_EXCEEDED, SessionLimiter, call_digest
from pilothouse.guard.errors import AgentLimitExceeded
from tests.clock import Clock

pytestmark = pytest.mark.unit


def limiter(clock: Clock, max_sessions: int = 100_000, **limits: Any) -> SessionLimiter:
    return SessionLimiter(AgentLimitsConfig(**limits), max_sessions=max_sessions, clock=clock)


def call(name: str, arguments: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "c", "type": "function", "function": {"name": name, "arguments": args}}


async def test_the_step_past_max_steps_is_refused(clock: Clock) -> None:
    lim = limiter(clock, max_steps=3)
    assert [(await lim.begin_step("s1")).steps for _ in range(3)] == [1, 2, 3]
    with pytest.raises(AgentLimitExceeded) as caught:
        await lim.begin_step("s1")
    err = caught.value
    assert isinstance(err, InvalidRequest)
    assert (err.status, err.type, err.code) == (400, "invalid_request_error", "agent_step_limit")
    assert err.message == (
        "agent session 's1' reached its step limit: 3 of 3 requests. "
        "Requests with a new session id start a fresh session."
    )
    with pytest.raises(AgentLimitExceeded):
        await lim.begin_step("s1")  # a refused step is not counted, and refused again
    state = await lim.state("s1")
    assert state is not None and state.steps == 3
    assert (await lim.begin_step("s2")).steps == 1  # sessions are independent


async def test_tokens_limit(clock: Clock) -> None:
    lim = limiter(clock, max_tokens=1000)
    await lim.begin_step("s")
    assert await lim.record("s", tokens=600, cost_usd=Decimal(0), tool_calls=[]) == []
    await lim.begin_step("s")
    assert await lim.record("s", tokens=500, cost_usd=Decimal(0), tool_calls=[]) == [TOKENS_EXCEEDED]
    with pytest.raises(AgentLimitExceeded) as caught:
        await lim.begin_step("s")
    assert caught.value.code == "agent_token_limit"
    assert "1100 of 1000 tokens" in caught.value.message


async def test_reaching_the_token_limit_exactly_refuses_the_next_step(clock: Clock) -> None:
    lim = limiter(clock, max_tokens=100)
    await lim.begin_step("s")
    assert await lim.record("s", tokens=100, cost_usd=Decimal(0), tool_calls=[]) == []  # not over
    with pytest.raises(AgentLimitExceeded):
        await lim.begin_step("s")  # but no budget left


async def test_cost_limit(clock: Clock) -> None:
    lim = limiter(clock, max_cost_usd=Decimal("0.05"))
    await lim.begin_step("s")
    await lim.record("s", tokens=10, cost_usd=Decimal("0.03"), tool_calls=[])
    await lim.begin_step("s")
    assert await lim.record("s", tokens=10, cost_usd=Decimal("0.025"), tool_calls=[]) == [COST_EXCEEDED]
    with pytest.raises(AgentLimitExceeded) as caught:
        await lim.begin_step("s")
    assert caught.value.code == "agent_cost_limit"
    assert "$0.055000 of $0.05 USD" in caught.value.message
    state = await lim.state("s")
    assert state is not None and state.describe() == {
        "session_id": "s",
        "steps": 2,
        "tokens": 20,
        "cost_usd": "0.055",
        "tool_calls": 0,
        "violations": [COST_EXCEEDED],
    }


async def test_identical_calls_with_reordered_keys_are_a_loop(clock: Clock) -> None:
    lim = limiter(clock, max_identical_calls=3)
    await lim.begin_step("s")
    assert (
        await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=[call("search", {"q": "x", "n": 1})])
        == []
    )
    await lim.begin_step("s")
    other = [call("search", {"q": "y", "n": 1}), call("lookup", {"q": "x", "n": 1})]  # not the same call
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=other) == []
    await lim.begin_step("s")
    assert (
        await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=[call("search", '{"n":1,"q":"x"}')])
        == []
    )
    await lim.begin_step("s")
    looped = [call("search", '{ "n": 1,\n  "q": "x" }')]
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=looped) == [LOOP]
    with pytest.raises(AgentLimitExceeded) as caught:
        await lim.begin_step("s")
    assert caught.value.code == "agent_loop_detected"
    assert "'search'" in caught.value.message


async def test_parallel_identical_calls_in_one_step_count(clock: Clock) -> None:
    lim = limiter(clock, max_identical_calls=2)
    await lim.begin_step("s")
    calls = [call("ping", "{}"), call("ping", "{}")]
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=calls) == [LOOP]


def test_call_digest() -> None:
    assert call_digest(call("a", {"x": 1, "y": [1, 2]})) == call_digest(call("a", '{"y":[1,2],"x":1}'))
    assert call_digest(call("a", {"x": 1})) != call_digest(call("b", {"x": 1}))
    assert call_digest(call("a", {"x": 1})) != call_digest(call("a", {"x": "1"}))
    assert call_digest(call("a", "not json "))[1] == call_digest(call("a", "not json"))[1]
    assert call_digest({})[0] == ""


async def test_sessions_expire_when_idle(clock: Clock) -> None:
    lim = limiter(clock, max_steps=2, idle_seconds=60)
    await lim.begin_step("s")
    await lim.begin_step("s")
    clock.now += 59
    with pytest.raises(AgentLimitExceeded):
        await lim.begin_step("s")  # the refused attempt still counts as activity
    clock.now += 60.5
    assert await lim.state("s") is None
    assert (await lim.begin_step("s")).steps == 1  # forgotten: a fresh session
    await lim.begin_step("other")
    clock.now += 61
    await lim.begin_step("third")
    assert len(lim) == 1  # expired sessions are swept as others arrive


async def test_lru_bound(clock: Clock) -> None:
    lim = limiter(clock, max_sessions=3, max_steps=5)
    for sid in ("a", "b", "c"):
        await lim.begin_step(sid)
        clock.now += 1
    await lim.begin_step("a")  # a is now the most recently seen
    await lim.begin_step("d")  # evicts b, the least recently seen
    assert len(lim) == 3
    assert await lim.state("b") is None
    kept = await lim.state("a")
    assert kept is not None and kept.steps == 2
    with pytest.raises(ValueError, match="max_sessions"):
        limiter(clock, max_sessions=0)


async def test_record_for_a_forgotten_session_counts_its_step(clock: Clock) -> None:
    lim = limiter(clock)
    await lim.record("late", tokens=5, cost_usd=Decimal("0.01"), tool_calls=[call("x", "{}")])
    state = await lim.state("late")
    assert state is not None and (state.steps, state.tokens, state.tool_calls) == (1, 5, 1)


async def test_unlimited_config_only_counts(clock: Clock) -> None:
    lim = limiter(clock)
    for _ in range(50):
        await lim.begin_step("s")
        assert await lim.record("s", tokens=10_000, cost_usd=Decimal(5), tool_calls=[call("a", "{}")]) == []
    state = await lim.state("s")
    assert state is not None and (state.steps, state.tokens, state.cost_usd) == (50, 500_000, Decimal(250))


async def test_remembered_calls_are_bounded(clock: Clock) -> None:
    lim = limiter(clock, max_identical_calls=2)
    await lim.begin_step("s")
    first = [call("search", {"q": 0})]
    await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=first)
    many = [call("search", {"q": i}) for i in range(1, 200)]  # pushes the first call out
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=many) == []
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=first) == []  # forgotten
    assert await lim.record("s", tokens=1, cost_usd=Decimal(0), tool_calls=many[-1:]) == [LOOP]  # recent
