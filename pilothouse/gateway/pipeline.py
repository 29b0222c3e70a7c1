"""The chat request pipeline: small stages composed once at start-up, onion style.

Each stage gets the request context and the next handler; it may act before the call, after it,
or wrap the answer's stream. Later capabilities (prompts, guards, limits, cache) are new stages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pilothouse.core.types import JSON, ChatResult, ChunkStream
from pilothouse.gateway.asgi import Scope
from pilothouse.gateway.schemas import ChatCompletionRequest
from pilothouse.keys import Principal
from pilothouse.prompts import ResolvedPrompt
from pilothouse.routing import Route
from pilothouse.traces import TraceBuilder


@dataclass(slots=True)
class ChatContext:
    scope: Scope
    request: ChatCompletionRequest
    body: JSON  # the OpenAI-shaped body as the client sent it; stages may rewrite it
    principal: Principal
    trace: TraceBuilder
    route: Route
    state: dict[str, Any] = field(default_factory=dict)
    # Headers stages add to the answer (x-ratelimit-*, cache status...), sent with JSON and SSE alike.
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    prompt: ResolvedPrompt | None = None  # the registry prompt the request named, resolved before routing


@dataclass(slots=True)
class StreamOutcome:
    chunks: ChunkStream


ChatOutcome = ChatResult | StreamOutcome
Handler = Callable[[ChatContext], Awaitable[ChatOutcome]]


class Stage(Protocol):
    name: str

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome: ...


def compose(stages: Sequence[Stage], terminal: Handler) -> Handler:
    """Chain the stages in order around ``terminal``."""
    handler = terminal
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Stage, call_next: Handler) -> Handler:
    async def run(ctx: ChatContext) -> ChatOutcome:
        return await stage(ctx, call_next)

    return run
