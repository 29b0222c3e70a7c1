"""Route a request: try deployments in strategy order with retries, fallbacks, circuit breakers and
cascade escalation, each attempt a span on the trace. Streams live in ``streams.py``."""

from __future__ import annotations

import random
from typing import TypeVar

from pilothouse.core.completions import chunks_of, replay
from pilothouse.core.errors import NotFound, PilothouseError
from pilothouse.core.ports import DeploymentGate, Lease, TraceRecorder
from pilothouse.core.traffic import BreakerConfig
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult
from pilothouse.routing.attempt import Attempt
from pilothouse.routing.breaker import BreakerBoard, LocalBreakerBoard
from pilothouse.routing.cascade import escalation_reason
from pilothouse.routing.plan import Plan, Planner, within
from pilothouse.routing.route import Deployment, Route, implicit_route
from pilothouse.routing.strategy import LatencyTracker
from pilothouse.routing.streams import StreamRouter

T = TypeVar("T")


class Router:
    def __init__(
        self,
        deployments: dict[str, Deployment],
        routes: dict[str, Route] | None = None,
        *,
        breakers: BreakerBoard | None = None,
        gate: DeploymentGate | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._deployments = deployments
        self._routes = dict(routes or {})
        for dep in deployments.values():
            if dep.model.kind == "chat" and dep.name not in self._routes:
                self._routes[dep.name] = implicit_route(dep)
        self.latency = LatencyTracker()
        self.breakers = breakers or LocalBreakerBoard(BreakerConfig())
        self._planner = Planner(self.breakers, gate, self.latency, rng or random.Random())
        self._streams = StreamRouter(self._planner)

    # --- names ------------------------------------------------------------------------------------
    def deployments(self) -> list[Deployment]:
        return list(self._deployments.values())

    def public_names(self) -> list[tuple[str, str]]:
        """Every name a client may send, with what serves it (for /v1/models)."""
        names = [(name, ",".join(d.provider.name for d in r.deployments)) for name, r in self._routes.items()]
        names += [
            (d.name, d.provider.name) for d in self._deployments.values() if d.model.kind == "embedding"
        ]
        return names

    def route(self, model: str) -> Route:
        route = self._routes.get(model)
        if route is None:
            raise NotFound(f"The chat model '{model}' does not exist.", param="model", code="model_not_found")
        return route

    def embedding(self, model: str) -> Deployment:
        dep = self._deployments.get(model)
        if dep is None or dep.model.kind != "embedding":
            raise NotFound(
                f"The embedding model '{model}' does not exist.", param="model", code="model_not_found"
            )
        return dep

    # --- chat -------------------------------------------------------------------------------------
    async def chat(self, route: Route, body: JSON, trace: TraceRecorder) -> ChatResult:
        plan = self._planner.plan(route, body)
        config = route.config
        cascade = config.cascade if config.strategy == "cascade" else None
        if cascade is not None and cascade.min_mean_logprob is not None:
            body = {**body, "logprobs": True}
        escalated: ChatResult | None = None
        for index, dep in enumerate(plan.candidates):
            admitted, lease = await self._planner.admit(plan, dep, trace)
            if not admitted:
                continue
            result = await self._try_deployment(plan, dep, body, trace, lease)
            if result is None:
                continue
            reason = escalation_reason(cascade, result.body) if cascade is not None else None
            if reason is None and _refused(result):
                reason = "content_filter"
                if "content_policy" not in config.fallback_on:
                    reason = None
            if reason is not None and index < len(plan.candidates) - 1:
                trace.flags.append("escalated")
                trace.attributes.setdefault("escalations", []).append({"from": dep.name, "reason": reason})
                escalated = result
                continue
            return self._served(result, dep, trace)
        if escalated is not None:  # every tier answered but none was acceptable: the best we have
            trace.flags.append("cascade_exhausted")
            return escalated
        raise plan.exhausted()

    async def _try_deployment(
        self, plan: Plan, dep: Deployment, body: JSON, trace: TraceRecorder, lease: Lease | None
    ) -> ChatResult | None:
        """Call one deployment with retries; None means "fall back to the next one"."""
        config = plan.route.config
        tokens_used: int | None = None
        try:
            for attempt_no in range(config.retry.attempts):
                remaining = plan.remaining()
                if remaining <= 0:
                    return None
                seconds = min(dep.timeout, remaining)
                attempt = Attempt(dep, trace, **{"pilothouse.retry": attempt_no})
                call = ChatCall(model=dep.model.upstream, body=body, timeout=seconds)
                try:
                    result = await within(dep.provider.chat(call), seconds, dep, "no answer")
                except PilothouseError as err:
                    attempt.failed(err)
                    await self._planner.record(dep, err, attempt.elapsed())
                    if not await self._planner.recoverable(plan, err, attempt_no):
                        raise
                    if plan.retry_now:
                        continue
                    return None
                attempt.usage(result.usage.prompt_tokens, result.usage.completion_tokens)
                attempt.ok()
                tokens_used = result.usage.total_tokens
                await self._planner.record(dep, None, attempt.elapsed())
                return result
            return None
        finally:
            if lease is not None:
                await lease.release(tokens_used)

    @staticmethod
    def _served(result: ChatResult, dep: Deployment, trace: TraceRecorder) -> ChatResult:
        result.body["model"] = dep.name  # the response names the deployment that served it
        trace.fields["served_model"] = dep.name
        trace.fields["provider"] = dep.provider.name
        return result

    # --- streams ----------------------------------------------------------------------------------
    async def stream(self, route: Route, body: JSON, trace: TraceRecorder) -> ChunkStream:
        if route.config.strategy == "cascade":
            # Escalation needs the whole answer before the client sees any of it: answer, then replay.
            result = await self.chat(route, body, trace)
            return replay(chunks_of(result.body, usage=result.usage))
        return await self._streams.open(route, body, trace)

    # --- embeddings -------------------------------------------------------------------------------
    async def embed(
        self, dep: Deployment, inputs: list[str], dimensions: int | None, trace: TraceRecorder
    ) -> EmbedResult:
        call = EmbedCall(model=dep.model.upstream, inputs=inputs, dimensions=dimensions, timeout=dep.timeout)
        attempt = Attempt(dep, trace)
        try:
            result = await within(dep.provider.embed(call), dep.timeout, dep, "no answer")
        except PilothouseError as err:
            attempt.failed(err)
            raise
        attempt.usage(result.usage.prompt_tokens)
        attempt.ok()
        return result


def _refused(result: ChatResult) -> bool:
    choices = result.body.get("choices") or []
    return bool(choices) and choices[0].get("finish_reason") == "content_filter"
