"""``POST /v1/embeddings``."""

from __future__ import annotations

import base64
import struct

from pilothouse.core.pricing import cost_of
from pilothouse.gateway.asgi import Receive, Scope, Send, read_request, send_json
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.gateway.schemas import EmbeddingRequest
from pilothouse.keys import Principal
from pilothouse.traces import TraceBuilder


def _encode(vector: list[float], fmt: str) -> list[float] | str:
    if fmt == "base64":  # little-endian float32, as OpenAI sends it
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class EmbeddingsEndpoint:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, trace: TraceBuilder
    ) -> None:
        _, request = await read_request(scope, receive, self._deps.max_body_bytes, EmbeddingRequest)
        inputs = [request.input] if isinstance(request.input, str) else request.input
        trace.messages = inputs
        trace.fields["requested_model"] = request.model
        trace.fields["params"] = {"inputs": len(inputs), "dimensions": request.dimensions}
        principal.require_scope("embeddings")
        deployment = self._deps.router.embedding(request.model)
        principal.require_model(deployment.name)
        trace.fields["provider"] = deployment.provider.name
        trace.fields["served_model"] = deployment.name
        result = await self._deps.router.embed(deployment, inputs, request.dimensions, trace)
        trace.usage = result.usage
        trace.cost_usd = cost_of(result.usage, deployment.model)
        payload = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode(v, request.encoding_format)}
                for i, v in enumerate(result.vectors)
            ],
            "model": deployment.model.upstream,
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "total_tokens": result.usage.prompt_tokens,
            },
        }
        await send_json(send, 200, payload, trace_id=trace.trace_id)
