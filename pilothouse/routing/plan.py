"""The per-request routing plan: candidate order, deadline, retry delays, and which deployment may
be tried now (context window, circuit breaker, deployment limits)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from pilothouse.core.errors import ContextLengthExceeded, PilothouseError, ProviderTimeout, ServiceUnavailable
from pilothouse.core.ports import DeploymentGate, Lease, TraceRecorder
from pilothouse.core.tokens import estimate_prompt_tokens, requested_output_tokens
from pilothouse.core.types import JSON
from pilothouse.routing.attempt import skipped
from pilothouse.routing.breaker import BreakerBoard
from pilothouse.routing.failures import HEALTH, RETRY_SAME, classify
from pilothouse.routing.route import Deployment, Route
from pilothouse.routing.strategy import LatencyTracker, order

T = TypeVar("T")


@dataclass
class Plan:
    route: Route
    candidates: list[Deployment]
    deadline: float  # time.monotonic() value
    prompt_tokens: int
    output_tokens: int
    skipped_for_context: int = 0
    skipped_for_health: int = 0
    last_error: PilothouseError | None = None
    retry_now: bool = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Delay before retrying the same deployment, or None when it would not fit or is too long."""
        retry = self.route.config.retry
        cap = retry.max_backoff_ms / 1000.0
        delay = rng.uniform(0, min(cap, retry.backoff_ms / 1000.0 * 2**attempt))  # full jitter
        if retry_after is not None:
            if retry_after > cap:
                return None  # the upstream asks for a longer pause: better served elsewhere
            delay = max(delay, retry_after)
        return delay if delay < self.remaining() else None

    def exhausted(self) -> PilothouseError:
        """The error to answer with once no candidate is left."""
        if self.last_error is not None:
            return self.last_error
        if self.skipped_for_context and not self.skipped_for_health:
            return ContextLengthExceeded(
                f"The prompt (about {self.prompt_tokens} tokens) does not fit the context window of any "
                f"deployment of '{self.route.name}'.",
                param="messages",
            )
        if self.remaining() <= 0:
            return ProviderTimeout(
                f"route '{self.route.name}': deadline of {self.route.config.deadline:g}s reached"
            )
        return ServiceUnavailable(
            f"No deployment of '{self.route.name}' is available (circuits open or at capacity); "
            "try again shortly."
        )


class Planner:
    def __init__(
        self, breakers: BreakerBoard, gate: DeploymentGate | None, latency: LatencyTracker, rng: random.Random
    ) -> None:
        self.breakers = breakers
        self.gate = gate
        self.latency = latency
        self.rng = rng

    def plan(self, route: Route, body: JSON) -> Plan:
        prompt = estimate_prompt_tokens(body)
        output = requested_output_tokens(body)
        candidates = order(
            route, latency=self.latency, rng=self.rng, prompt_tokens=prompt, output_tokens=output
        )
        return Plan(route, candidates, time.monotonic() + route.config.deadline, prompt, output)

    async def admit(self, plan: Plan, dep: Deployment, trace: TraceRecorder) -> tuple[bool, Lease | None]:
        """Whether to try this deployment now, and the lease on its limits (None if it has none)."""
        if plan.prompt_tokens + plan.output_tokens > dep.model.context_window:
            plan.skipped_for_context += 1
            skipped(trace, dep, "context_window")
            return False, None
        if not await self.breakers.allow(dep.name):
            plan.skipped_for_health += 1
            skipped(trace, dep, "circuit_open")
            return False, None
        if self.gate is None or dep.model.limits is None:
            return True, None
        lease = await self.gate.try_acquire(dep.name, plan.prompt_tokens + plan.output_tokens)
        if lease is None:
            plan.skipped_for_health += 1
            skipped(trace, dep, "deployment_limit")
            return False, None
        return True, lease

    async def record(self, dep: Deployment, err: PilothouseError | None, seconds: float) -> None:
        """Feed the circuit breaker and the latency tracker with one attempt's result."""
        if err is None:
            self.latency.observe(dep.name, seconds)
            await self.breakers.record(dep.name, True)
        else:
            # A request the model rejected says nothing bad about the deployment's health.
            await self.breakers.record(dep.name, classify(err) not in HEALTH)

    async def recoverable(self, plan: Plan, err: PilothouseError, attempt_no: int) -> bool:
        """What a failed attempt leads to. True: retry the same deployment (``plan.retry_now``, the
        backoff already slept) or fall back to the next one; False: answer with this error."""
        error_class = classify(err)
        plan.retry_now = False
        if error_class is None:
            return False  # the request itself is bad: no other deployment can fix it
        plan.last_error = err
        if error_class in RETRY_SAME and attempt_no + 1 < plan.route.config.retry.attempts:
            delay = plan.backoff(attempt_no, getattr(err, "retry_after", None), self.rng)
            if delay is not None:
                await asyncio.sleep(delay)
                plan.retry_now = True
                return True
        return error_class in plan.route.config.fallback_on


async def within(answer: Awaitable[T], seconds: float, dep: Deployment, what: str) -> T:
    """Await ``answer`` for at most ``seconds``; a late answer becomes a ``ProviderTimeout``."""
    try:
        async with asyncio.timeout(seconds):
            return await answer
    except TimeoutError:
        raise ProviderTimeout(
            f"{dep.provider.name}: {what} within {seconds:g}s", provider=dep.provider.name
        ) from None
