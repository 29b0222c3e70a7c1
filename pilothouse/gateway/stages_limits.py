"""The admission stage: rate limits, concurrency and budgets before the call; release, token
reconciliation and spend after it (for streams, when the stream ends or is abandoned).

It must run outside ``Accounting``, which sets the usage and cost this stage settles with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from pilothouse.core.tokens import estimate_prompt_tokens, requested_output_tokens
from pilothouse.core.types import JSON, ChunkStream
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome
from pilothouse.limits import AdmissionControl, Ticket, to_nanos
from pilothouse.traces import TraceBuilder

Settle = Callable[[], Coroutine[Any, Any, None]]


class SettlingStream:
    """Passes chunks through and settles once: when the stream ends or fails, when it is closed
    (also before its first chunk), or, as a last resort, when it is dropped without either."""

    __slots__ = ("_done", "_inner", "_settle", "_spawn")

    def __init__(
        self, inner: ChunkStream, settle: Settle, spawn: Callable[[Coroutine[Any, Any, None]], None]
    ) -> None:
        self._inner = inner
        self._settle = settle
        self._spawn = spawn
        self._done = False

    def __aiter__(self) -> SettlingStream:
        return self

    async def __anext__(self) -> JSON:
        try:
            return await self._inner.__anext__()
        except BaseException:  # the end, an upstream error, or cancellation: the stream is over
            await self._finish()
            raise

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if not self._done:
            self._done = True
            await self._settle()

    def __del__(self) -> None:
        if not self._done:
            self._done = True
            self._spawn(self._settle())


def _flag(trace: TraceBuilder, flags: list[str]) -> None:
    for flag in flags:
        if flag not in trace.flags:
            trace.flags.append(flag)


class Admission:
    name = "limits"

    def __init__(self, control: AdmissionControl) -> None:
        self._control = control
        self._orphans: set[asyncio.Task[None]] = set()

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        principal = ctx.principal
        route = ctx.route
        plan = self._control.plan(principal.name, principal.team_name, route.name, route.config.limits)
        if plan is None:
            return await call_next(ctx)  # nothing applies: no work at all
        start = time.perf_counter()
        prompt = reserve = 0
        if plan.counts_tokens:
            prompt = estimate_prompt_tokens(ctx.body)
            reserve = prompt + requested_output_tokens(ctx.body)
        ticket = await self._control.admit(plan, reserve)
        trace = ctx.trace
        trace.add_span(
            "limits",
            start,
            time.perf_counter(),
            status="error" if ticket.denial is not None else "ok",
            attributes=ticket.attributes(),
        )
        if ticket.denial is not None:
            raise ticket.denial
        _flag(trace, ticket.flags)
        ctx.response_headers.extend(ticket.headers())

        async def settle() -> None:
            await self._settle(trace, ticket, prompt)

        try:
            outcome = await call_next(ctx)
        except BaseException:
            await settle()
            raise
        if isinstance(outcome, StreamOutcome):
            return StreamOutcome(SettlingStream(outcome.chunks, settle, self._spawn))
        await settle()
        return outcome

    async def _settle(self, trace: TraceBuilder, ticket: Ticket, prompt: int) -> None:
        # Without reported usage (an error, an abandoned stream) the prompt was still sent: count it,
        # and give back the reserved output tokens.
        if ticket.settled:
            return
        used = trace.usage.total_tokens or prompt
        cost = to_nanos(trace.cost_usd) if ticket.slots else 0
        _flag(trace, await ticket.release(used, cost))

    def _spawn(self, settle: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop any more (interpreter shutdown): nothing left to settle
            settle.close()
            return
        task = loop.create_task(settle)
        self._orphans.add(task)
        task.add_done_callback(self._orphans.discard)
