"""The admission stage in the pipeline (headers, spans, errors, settling after answers and streams),
the deployment gate and the load shedder, over the in-process backend."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from pilothouse.core.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from pilothouse.core.traffic import BudgetConfig, LimitsConfig, LimitSpec, RouteConfig
from pilothouse.core.types import JSON, ChatResult, Usage
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, StreamOutcome
from pilothouse.gateway.schemas import ChatCompletionRequest
from pilothouse.gateway.stages_limits import Admission
from pilothouse.keys import Principal
from pilothouse.limits import AdmissionControl, BudgetBook, LimitsGate, LoadShedder, MemoryBackend
from pilothouse.limits.background import Background
from pilothouse.routing import Route
from pilothouse.traces import TraceBuilder

pytestmark = pytest.mark.unit

PROMPT = "Hello there, how are you today?"


def context(
    *, key: str = "alice", team: str | None = "qa", route_limits: LimitSpec | None = None
) -> ChatContext:
    body: JSON = {"model": "chat", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 50}
    principal = Principal("id-" + key, key, "team-id", team, frozenset({"chat"}), None, None, False)
    route = Route(
        name="chat", config=RouteConfig(name="chat", deployments=["m"], limits=route_limits), deployments=()
    )
    return ChatContext(
        {}, ChatCompletionRequest.model_validate(body), body, principal, TraceBuilder("chat"), route
    )


def stage(limits: LimitsConfig, budgets: list[BudgetConfig] | None = None) -> tuple[Admission, MemoryBackend]:
    backend = MemoryBackend()
    book = BudgetBook(budgets, backend, Background()) if budgets else None
    return Admission(AdmissionControl(backend, limits, book)), backend


def answer(usage: Usage, cost: str = "0") -> Any:
    async def call_next(ctx: ChatContext) -> ChatOutcome:
        ctx.trace.usage = usage  # what Accounting (inside this stage) sets
        ctx.trace.cost_usd = Decimal(cost)
        return ChatResult(body={"choices": []}, usage=usage)

    return call_next


def streaming(chunks: int, usage: Usage, log: list[str]) -> Any:
    async def gen(ctx: ChatContext) -> AsyncIterator[JSON]:
        try:
            for i in range(chunks):
                yield {"choices": [{"delta": {"content": str(i)}}]}
            ctx.trace.usage = usage
            yield {"choices": [], "usage": usage.to_openai()}
        finally:
            log.append("inner closed")

    async def call_next(ctx: ChatContext) -> ChatOutcome:
        return StreamOutcome(gen(ctx))

    return call_next


async def test_no_applicable_limit_means_no_work() -> None:
    admission, _ = stage(LimitsConfig(keys={"someone-else": LimitSpec(rpm=1)}))
    ctx = context()
    await admission(ctx, answer(Usage(10, 5)))
    assert ctx.trace.spans == [] and ctx.response_headers == []


async def test_admitted_requests_get_headers_and_a_span_refused_ones_a_429() -> None:
    admission, _ = stage(
        LimitsConfig(key_default=LimitSpec(rpm=2, tpm=1000), teams={"qa": LimitSpec(rpm=100)})
    )
    for remaining in (b"1", b"0"):
        ctx = context()
        await admission(ctx, answer(Usage(10, 5)))
        headers = dict(ctx.response_headers)
        assert headers[b"x-ratelimit-limit-requests"] == b"2"
        assert headers[b"x-ratelimit-remaining-requests"] == remaining
        assert b"x-ratelimit-remaining-tokens" in headers
        span = ctx.trace.spans[0]
        assert span.name == "limits" and span.status == "ok"
        assert span.attributes["pilothouse.limits.checked"] == ["key:alice rpm=2 tpm=1000", "team:qa rpm=100"]
        assert span.attributes["pilothouse.limits.outcome"] == "admitted"
    ctx = context()
    with pytest.raises(RateLimited) as caught:
        await admission(ctx, answer(Usage(10, 5)))
    assert caught.value.retry_after == pytest.approx(60, abs=1)
    assert ctx.trace.spans[0].status == "error"
    assert ctx.trace.spans[0].attributes["pilothouse.limits.denied_by"] == "key:alice"


async def test_tpm_reserves_prompt_plus_max_tokens_and_reconciles_with_usage() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(tpm=200)))
    ctx = context()
    await admission(ctx, answer(Usage(prompt_tokens=20, completion_tokens=10)))
    reserved = ctx.trace.spans[0].attributes["pilothouse.limits.tokens_reserved"]
    assert reserved > 50  # the prompt estimate and max_tokens=50
    # The reservation was rewritten to 30 actual tokens: 170 remain for the next request.
    ctx = context()
    await admission(ctx, answer(Usage(1, 1)))
    remaining = int(dict(ctx.response_headers)[b"x-ratelimit-remaining-tokens"])
    assert remaining == 200 - 30 - reserved


async def test_concurrency_is_released_after_an_answer_and_after_an_error() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(max_concurrency=1)))
    await admission(context(), answer(Usage(1, 1)))

    async def failing(ctx: ChatContext) -> ChatOutcome:
        raise RuntimeError("upstream blew up")

    with pytest.raises(RuntimeError):
        await admission(context(), failing)
    await admission(context(), answer(Usage(1, 1)))  # the slot came back both times


async def test_a_stream_holds_its_slot_until_it_ends() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(max_concurrency=1, tpm=10_000)))
    log: list[str] = []
    ctx = context()
    outcome = await admission(ctx, streaming(3, Usage(7, 3), log))
    assert isinstance(outcome, StreamOutcome)
    with pytest.raises(RateLimited):
        await admission(context(), answer(Usage(1, 1)))
    got = [chunk async for chunk in outcome.chunks]
    assert len(got) == 4 and log == ["inner closed"]
    ctx2 = context()
    await admission(ctx2, answer(Usage(1, 1)))  # the slot is free again
    # and the stream's tokens were reconciled to its usage (10)
    reserved = ctx2.trace.spans[0].attributes["pilothouse.limits.tokens_reserved"]
    assert int(dict(ctx2.response_headers)[b"x-ratelimit-remaining-tokens"]) == 10_000 - 10 - reserved


async def test_an_abandoned_stream_releases_and_closes_the_inner_iterator() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(max_concurrency=1)))
    log: list[str] = []
    outcome = await admission(context(), streaming(10, Usage(1, 1), log))
    assert isinstance(outcome, StreamOutcome)
    await outcome.chunks.__anext__()
    await outcome.chunks.aclose()  # type: ignore[attr-defined]  # the client went away
    assert log == ["inner closed"]
    await admission(context(), answer(Usage(1, 1)))


async def test_a_stream_closed_before_its_first_chunk_or_dropped_still_releases() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(max_concurrency=1)))
    outcome = await admission(context(), streaming(3, Usage(1, 1), []))
    assert isinstance(outcome, StreamOutcome)
    await outcome.chunks.aclose()  # type: ignore[attr-defined]
    await admission(context(), answer(Usage(1, 1)))
    dropped = await admission(context(), streaming(3, Usage(1, 1), []))
    del dropped
    gc.collect()
    for _ in range(3):  # the release runs as a task on the loop
        await asyncio.sleep(0)
    await admission(context(), answer(Usage(1, 1)))


async def test_a_team_refusal_does_not_use_the_keys_quota() -> None:
    admission, _ = stage(LimitsConfig(key_default=LimitSpec(rpm=3), teams={"qa": LimitSpec(rpm=1)}))
    await admission(context(team="qa"), answer(Usage(1, 1)))
    for _ in range(3):
        with pytest.raises(RateLimited):
            await admission(context(team="qa"), answer(Usage(1, 1)))
    await admission(context(team=None), answer(Usage(1, 1)))
    await admission(context(team=None), answer(Usage(1, 1)))  # 3 of 3: the refusals took none
    with pytest.raises(RateLimited):
        await admission(context(team=None), answer(Usage(1, 1)))


async def test_route_limits_apply_to_every_key() -> None:
    admission, _ = stage(LimitsConfig())
    spec = LimitSpec(rpm=1)
    await admission(context(key="a", route_limits=spec), answer(Usage(1, 1)))
    with pytest.raises(RateLimited) as caught:
        await admission(context(key="b", route_limits=spec), answer(Usage(1, 1)))
    assert "route 'chat'" in caught.value.message


async def test_budget_spend_comes_from_the_trace_cost_and_stops_at_the_limit() -> None:
    budgets = [BudgetConfig(scope="team", name="qa", limit_usd=Decimal("0.02"), soft_threshold=0.5)]
    admission, _ = stage(LimitsConfig(), budgets)
    ctx = context()
    await admission(ctx, answer(Usage(1, 1), cost="0.01"))
    assert ctx.trace.flags == ["budget_soft_limit"]  # crossed 50% with this request
    ctx = context()
    await admission(ctx, answer(Usage(1, 1), cost="0.01"))
    assert ctx.trace.flags == ["budget_soft_limit"]
    ctx = context()
    with pytest.raises(BudgetExceeded):
        await admission(ctx, answer(Usage(1, 1)))
    assert ctx.trace.spans[0].attributes["pilothouse.limits.outcome"] == "budget"
    await admission(context(team="other"), answer(Usage(1, 1)))


async def test_deployment_gate_skips_a_deployment_at_its_limit() -> None:
    gate = LimitsGate(MemoryBackend(), {"gpt": LimitSpec(max_concurrency=1, tpm=100)})
    assert await gate.try_acquire("unlimited", 10_000) is not None
    lease = await gate.try_acquire("gpt", 40)
    assert lease is not None
    assert await gate.try_acquire("gpt", 10) is None  # concurrency
    await lease.release(actual_tokens=90)
    await lease.release(actual_tokens=90)  # idempotent
    assert await gate.try_acquire("gpt", 20) is None  # 90 of 100 tokens used this minute
    second = await gate.try_acquire("gpt", 10)
    assert second is not None
    await second.release()


def test_load_shedder_answers_503_with_retry_after_at_capacity() -> None:
    shedder = LoadShedder(2)
    shedder.check(0)
    shedder.check(1)
    with pytest.raises(ServiceUnavailable) as caught:
        shedder.check(2)
    assert caught.value.status == 503 and caught.value.code == "overloaded"
    assert dict(caught.value.headers()) == {b"retry-after": b"1"}
    assert shedder.shed == 1
