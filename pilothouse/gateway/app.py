"""The gateway's ASGI application: a thin dispatcher for the ``/v1`` hot path.

Anything it does not serve (``/api``, later the dashboard) goes to the ``fallback`` app, which the
composition root provides; the gateway never imports the web layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from pilothouse.core.errors import NotFound, PilothouseError
from pilothouse.core.ids import new_id
from pilothouse.gateway.asgi import ASGIApp, ClientGone, Receive, Scope, Send, header, send_error, send_json
from pilothouse.gateway.chat import ChatEndpoint
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.gateway.embeddings import EmbeddingsEndpoint
from pilothouse.gateway.models import ModelsEndpoint
from pilothouse.gateway.pipeline import Stage, compose
from pilothouse.gateway.stages import ProviderCall
from pilothouse.keys import Principal
from pilothouse.limits import LoadShedder
from pilothouse.traces import TraceBuilder
from pilothouse.traces.metrics import Metrics

log = logging.getLogger("pilothouse.gateway")

Hook = Callable[[], Awaitable[None]]


class Endpoint(Protocol):
    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, trace: TraceBuilder
    ) -> None: ...


class GatewayApp:
    def __init__(
        self,
        deps: GatewayDeps,
        *,
        stages: Sequence[Stage],
        fallback: ASGIApp | None = None,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        shedder: LoadShedder | None = None,
    ) -> None:
        self.deps = deps
        self._shedder = shedder
        self._fallback = fallback
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        pipeline = compose(stages, ProviderCall(deps.router))
        self._traced: dict[tuple[str, str], tuple[str, Endpoint]] = {
            ("POST", "/v1/chat/completions"): ("chat.completions", ChatEndpoint(deps, pipeline)),
            ("POST", "/v1/embeddings"): ("embeddings", EmbeddingsEndpoint(deps)),
            ("GET", "/v1/models"): ("models", ModelsEndpoint(deps)),
        }
        self.inflight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        if deps.metrics is not None:
            deps.metrics.gauge("pilothouse_inflight_requests", lambda: self.inflight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif self._fallback is not None:
            await self._fallback(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        route = self._traced.get((method, path))
        if route is not None:
            await self._traced_call(route[0], route[1], scope, receive, send)
        elif path == "/metrics" and method == "GET" and self.deps.metrics is not None:
            await self._metrics(send, self.deps.metrics)
        elif path == "/healthz":
            await send_json(send, 200, {"status": "ok"}, trace_id=new_id())
        elif path == "/readyz":
            await self._ready(send)
        elif self._fallback is not None and not path.startswith("/v1/"):
            await self._fallback(scope, receive, send)
        else:
            err = NotFound(f"Unknown request URL: {method} {path}.", code="unknown_url")
            await send_error(send, err, trace_id=new_id())

    async def _traced_call(
        self, endpoint: str, handler: Endpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        deps = self.deps
        trace = TraceBuilder(endpoint)
        self.inflight += 1
        self._idle.clear()
        try:
            if self._shedder is not None:
                self._shedder.check(self.inflight - 1)  # 503 before any work when already full
            start = time.perf_counter()
            try:
                principal = await deps.authenticator.authenticate(header(scope, b"authorization"))
            except PilothouseError as err:
                trace.add_span(
                    "auth", start, time.perf_counter(), status="error", attributes={"error.type": err.code}
                )
                raise
            trace.add_span(
                "auth", start, time.perf_counter(), attributes={"pilothouse.key_id": principal.key_id}
            )
            trace.fields["key_id"] = principal.key_id
            trace.fields["team_id"] = principal.team_id
            await handler(scope, receive, send, principal, trace)
        except PilothouseError as err:
            trace.fail(err)
            await send_error(send, err, trace_id=trace.trace_id)
        except ClientGone:
            trace.fail(
                PilothouseError("the client disconnected before sending the request", code="client_gone")
            )
        except Exception:
            log.exception("unexpected error in %s (trace %s)", endpoint, trace.trace_id)
            internal = PilothouseError("The server had an error while processing your request.")
            trace.fail(internal)
            await send_error(send, internal, trace_id=trace.trace_id)
        finally:
            self.inflight -= 1
            if not self.inflight:
                self._idle.set()
            deps.traces.submit(
                trace.finish(
                    store_payloads=deps.store_payloads,
                    config_hash=deps.config_hash,
                    redact=deps.redact_payloads,
                )
            )

    async def _metrics(self, send: Send, metrics: Metrics) -> None:
        body = metrics.render().encode()
        headers = [
            (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _ready(self, send: Send) -> None:
        if self.draining:
            await send_json(send, 503, {"status": "draining", "inflight": self.inflight}, trace_id=new_id())
        else:
            await send_json(send, 200, {"status": "ready", "inflight": self.inflight}, trace_id=new_id())

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hook in self._on_startup:
                        await hook()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.drain()
                for hook in self._on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def drain(self) -> None:
        """Wait (up to ``drain_seconds``) for in-flight requests and streams to finish."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=self.deps.drain_seconds)
