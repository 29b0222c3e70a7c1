"""``GET /v1/models``: the public model names this key may use."""

from __future__ import annotations

from pilothouse.gateway.asgi import Receive, Scope, Send, send_json
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.keys import Principal
from pilothouse.traces import TraceBuilder


class ModelsEndpoint:
    def __init__(self, deps: GatewayDeps) -> None:
        self._deps = deps

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, trace: TraceBuilder
    ) -> None:
        principal.require_scope("models")
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": owner}
            for name, owner in self._deps.router.public_names()
            if principal.models is None or name in principal.models
        ]
        await send_json(send, 200, {"object": "list", "data": data}, trace_id=trace.trace_id)
