"""``POST /v1/chat/completions``: parse and validate, run the pipeline, answer as JSON or SSE."""

from __future__ import annotations

from pilothouse.core.types import ChatResult
from pilothouse.gateway.asgi import (
    Receive,
    Scope,
    Send,
    parse_json_object,
    read_body,
    send_json,
    validate_request,
)
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.gateway.pipeline import ChatContext, Handler
from pilothouse.gateway.schemas import TRACED_PARAMS, ChatCompletionRequest, PromptedChatRequest
from pilothouse.gateway.stages_prompts import resolve_prompt
from pilothouse.gateway.streaming import write_stream
from pilothouse.keys import Principal
from pilothouse.prompts import ResolvedPrompt
from pilothouse.traces import TraceBuilder


class ChatEndpoint:
    def __init__(self, deps: GatewayDeps, pipeline: Handler) -> None:
        self._deps = deps
        self._pipeline = pipeline

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, trace: TraceBuilder
    ) -> None:
        data = parse_json_object(await read_body(scope, receive, self._deps.max_body_bytes))
        prompt: ResolvedPrompt | None = None
        request: ChatCompletionRequest
        if "prompt" in data:
            # Resolved before routing: the prompt may name the model, and access control checks
            # the route it leads to. Rendering is the PromptResolution stage's.
            request = prompted = validate_request(data, PromptedChatRequest)
            prompt, model = await resolve_prompt(self._deps.prompts, prompted, trace)
        else:
            request = validate_request(data, ChatCompletionRequest)
            model = request.model
        fields = trace.fields
        fields["requested_model"] = model
        fields["stream"] = request.stream
        fields["params"] = {k: data[k] for k in TRACED_PARAMS if k in data}
        trace.messages = data.get("messages")

        route = self._deps.router.route(model)
        fields["route"] = route.name
        ctx = ChatContext(scope, request, data, principal, trace, route, prompt=prompt)
        outcome = await self._pipeline(ctx)

        if isinstance(outcome, ChatResult):
            body = outcome.body
            choices = body.get("choices") or [{}]
            trace.output = (
                choices[0].get("message") if len(choices) == 1 else [c.get("message") for c in choices]
            )
            fields["finish_reason"] = choices[0].get("finish_reason")
            await send_json(send, 200, body, trace_id=trace.trace_id, headers=ctx.response_headers)
            return
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        await write_stream(
            send, receive, outcome.chunks, trace, include_usage=include_usage, headers=ctx.response_headers
        )
