"""Resolve a public model name to a deployment and call it with a deadline, one span per attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pilothouse.core.errors import NotFound, PilothouseError, ProviderError, ProviderTimeout
from pilothouse.core.ports import TraceRecorder
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult
from pilothouse.routing.route import Deployment, Route, implicit_route

T = TypeVar("T")
ATTEMPT = "provider.attempt"


class Attempt:
    """The span of one provider call: OpenTelemetry GenAI attribute names, status, timing."""

    __slots__ = ("attributes", "spans", "start")

    def __init__(self, dep: Deployment, spans: TraceRecorder) -> None:
        self.spans = spans
        self.start = time.perf_counter()
        self.attributes: dict[str, Any] = {
            "gen_ai.provider.name": dep.provider.name,
            "gen_ai.request.model": dep.model.upstream,
            "pilothouse.deployment": dep.name,
        }

    def usage(self, input_tokens: int, output_tokens: int | None = None) -> None:
        self.attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            self.attributes["gen_ai.usage.output_tokens"] = output_tokens

    def ok(self) -> None:
        self.spans.add_span(ATTEMPT, self.start, time.perf_counter(), attributes=self.attributes)

    def failed(self, err: PilothouseError | None) -> None:
        if err is not None:
            self.attributes["error.type"] = err.code
            self.attributes["error.message"] = err.message[:300]
            if isinstance(err, ProviderError) and err.upstream_status is not None:
                self.attributes["http.response.status_code"] = err.upstream_status
        else:
            self.attributes["error.type"] = "cancelled"
        self.spans.add_span(
            ATTEMPT, self.start, time.perf_counter(), status="error", attributes=self.attributes
        )


def _timeout(dep: Deployment, what: str) -> ProviderTimeout:
    return ProviderTimeout(f"{dep.provider.name}: {what} within {dep.timeout:g}s", provider=dep.provider.name)


class Router:
    def __init__(self, deployments: dict[str, Deployment], routes: dict[str, Route] | None = None) -> None:
        self._deployments = deployments
        self._routes = dict(routes or {})
        for dep in deployments.values():
            if dep.model.kind == "chat" and dep.name not in self._routes:
                self._routes[dep.name] = implicit_route(dep)

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

    async def _call(self, dep: Deployment, call: Callable[[], Awaitable[T]], attempt: Attempt) -> T:
        """One provider call under the deployment's deadline; a failure records the attempt's span."""
        try:
            async with asyncio.timeout(dep.timeout):
                return await call()
        except (PilothouseError, TimeoutError) as exc:
            err = exc if isinstance(exc, PilothouseError) else _timeout(dep, "no answer")
            attempt.failed(err)
            raise err from None

    async def chat(self, route: Route, body: JSON, spans: TraceRecorder) -> ChatResult:
        dep = route.deployments[0]
        call = ChatCall(model=dep.model.upstream, body=body, timeout=dep.timeout)
        attempt = Attempt(dep, spans)
        result = await self._call(dep, lambda: dep.provider.chat(call), attempt)
        attempt.usage(result.usage.prompt_tokens, result.usage.completion_tokens)
        attempt.ok()
        result.body["model"] = dep.name  # the response names the deployment that served it
        spans.fields["served_model"] = dep.name
        spans.fields["provider"] = dep.provider.name
        return result

    async def embed(
        self, dep: Deployment, inputs: list[str], dimensions: int | None, spans: TraceRecorder
    ) -> EmbedResult:
        call = EmbedCall(model=dep.model.upstream, inputs=inputs, dimensions=dimensions, timeout=dep.timeout)
        attempt = Attempt(dep, spans)
        result = await self._call(dep, lambda: dep.provider.embed(call), attempt)
        attempt.usage(result.usage.prompt_tokens)
        attempt.ok()
        return result

    async def stream(self, route: Route, body: JSON, spans: TraceRecorder) -> ChunkStream:
        """Open the stream and wait for its first chunk, so failures before any byte reaches the client
        surface as ordinary errors (right HTTP status) rather than as a broken stream."""
        dep = route.deployments[0]
        call = ChatCall(model=dep.model.upstream, body=body, timeout=dep.timeout)
        attempt = Attempt(dep, spans)
        chunks = aiter(dep.provider.stream(call))
        try:
            first: JSON | None = await self._call(dep, lambda: anext(chunks), attempt)
        except StopAsyncIteration:
            first = None
        except PilothouseError:
            await _close(chunks)
            raise
        attempt.attributes["pilothouse.ttft_ms"] = round((time.perf_counter() - attempt.start) * 1000, 3)
        spans.fields["served_model"] = dep.name
        spans.fields["provider"] = dep.provider.name
        return self._rest(dep, chunks, first, attempt)

    async def _rest(
        self, dep: Deployment, chunks: AsyncIterator[JSON], first: JSON | None, attempt: Attempt
    ) -> ChunkStream:
        try:
            if first is None:
                attempt.ok()
                return
            first["model"] = dep.name
            yield first
            while True:
                # An idle window per chunk: a stalled upstream ends the stream with a timeout error.
                try:
                    async with asyncio.timeout(dep.timeout):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _timeout(dep, "stream stalled: no chunk") from None
                usage = chunk.get("usage")
                if usage:
                    attempt.usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
                chunk["model"] = dep.name
                yield chunk
        except PilothouseError as err:
            attempt.failed(err)
            raise
        except BaseException:
            attempt.failed(None)  # cancelled, or the client went away and the stream was closed
            raise
        else:
            attempt.ok()
        finally:
            await _close(chunks)


async def _close(chunks: AsyncIterator[JSON]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
