"""The spine's stages: access control, the provider call, and usage and cost accounting."""

from __future__ import annotations

from decimal import Decimal

from pilothouse.core.config import ModelConfig
from pilothouse.core.pricing import cost_of
from pilothouse.core.types import ChatResult, ChunkStream, Usage
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome
from pilothouse.routing import Router


class AccessControl:
    """The key must hold the chat scope and may be limited to some models."""

    name = "access"

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        ctx.principal.require_scope("chat")
        ctx.principal.require_model(ctx.route.name)
        return await call_next(ctx)


class Accounting:
    """Usage and cost on the trace, from the provider's reported usage and the price table."""

    name = "accounting"

    def __init__(self, prices: dict[str, ModelConfig]) -> None:
        self._prices = prices  # by deployment name: responses name the deployment that served them

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        outcome = await call_next(ctx)
        if isinstance(outcome, ChatResult):
            self._account(ctx, outcome.usage, outcome.body.get("model"))
            return outcome
        return StreamOutcome(self._metered(ctx, outcome.chunks))

    def _account(self, ctx: ChatContext, usage: Usage, served_by: str | None) -> None:
        ctx.trace.usage = usage
        model = self._prices.get(served_by or "")
        ctx.trace.cost_usd = cost_of(usage, model) if model is not None else Decimal(0)

    async def _metered(self, ctx: ChatContext, chunks: ChunkStream) -> ChunkStream:
        try:
            async for chunk in chunks:
                usage = chunk.get("usage")
                if usage:
                    self._account(ctx, Usage.from_openai(usage), chunk.get("model"))
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]


class ProviderCall:
    """The terminal handler: hand the request to routing."""

    name = "provider"

    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, ctx: ChatContext) -> ChatOutcome:
        if ctx.request.stream:
            return StreamOutcome(await self._router.stream(ctx.route, ctx.body, ctx.trace))
        return await self._router.chat(ctx.route, ctx.body, ctx.trace)
