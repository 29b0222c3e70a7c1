"""Prompt references on the hot path: ``{"prompt": "support-reply@production", "variables": {...}}``.

Two steps, because the route depends on the prompt: ``resolve_prompt`` runs in the chat endpoint
before routing (the prompt may supply the model, and access control checks the route it picks),
and the ``PromptResolution`` stage, after access control and idempotency and before every stage
that looks at the messages, renders them and rewrites the body. Both read only the resolver's
memory (see ``pilothouse.prompts.resolver``).

The model: the request's own model wins when it names one (an eval can run a prompt version
against another route); an empty model or the placeholder ``"prompt"`` means the prompt's model.
"""

from __future__ import annotations

import time
from typing import Any

from pilothouse.core.errors import InvalidRequest
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler
from pilothouse.gateway.schemas import TRACED_PARAMS, PromptedChatRequest
from pilothouse.prompts import PromptResolver, ResolvedPrompt, parse_ref
from pilothouse.traces import TraceBuilder


async def resolve_prompt(
    resolver: PromptResolver | None, request: PromptedChatRequest, trace: TraceBuilder
) -> tuple[ResolvedPrompt, str]:
    """The prompt version a request names and the model to route it to; named on the trace."""
    if resolver is None:
        raise InvalidRequest("This gateway has no prompt registry.", param="prompt")
    trace.attributes["pilothouse.prompt.ref"] = request.prompt  # as sent, even when it is malformed
    trace.fields["prompt"] = parse_ref(request.prompt)[0]  # a 404 still says which prompt was asked for
    resolved = await resolver.resolve(request.prompt)
    trace.fields["prompt_version"] = resolved.version
    trace.fields["prompt_label"] = resolved.label
    if not request.wants_prompt_model:
        return resolved, request.model
    if resolved.spec.model is None:
        raise InvalidRequest(
            f"The prompt '{resolved.name}@{resolved.version}' names no model: send one as 'model'.",
            param="model",
        )
    return resolved, resolved.spec.model


class PromptResolution:
    """Renders the resolved prompt into the body sent upstream and records what it rendered."""

    name = "prompt"

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        resolved = ctx.prompt
        if resolved is None:
            return await call_next(ctx)
        start = time.perf_counter()
        attributes: dict[str, Any] = {
            "pilothouse.prompt.name": resolved.name,
            "pilothouse.prompt.version": resolved.version,
        }
        if resolved.label is not None:
            attributes["pilothouse.prompt.label"] = resolved.label
        variables = ctx.request.variables if isinstance(ctx.request, PromptedChatRequest) else None
        trace = ctx.trace
        try:
            body = resolved.prompt.apply(ctx.body, variables)
        except InvalidRequest as err:
            attributes["error.type"] = err.code
            trace.add_span("prompt", start, time.perf_counter(), status="error", attributes=attributes)
            raise
        body["model"] = ctx.route.name
        ctx.body = body
        trace.messages = body["messages"]
        trace.fields["params"] = {k: body[k] for k in TRACED_PARAMS if k in body}
        trace.add_span("prompt", start, time.perf_counter(), attributes=attributes)
        return await call_next(ctx)
