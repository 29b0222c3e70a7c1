"""Resolve a public model name to a deployment and call it with a deadline, one span per attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pilothouse.core.config import ModelConfig
from pilothouse.core.errors import NotFound, PilothouseError, ProviderError, ProviderTimeout
from pilothouse.core.ports import Provider, SpanRecorder
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult

T = TypeVar("T")
ATTEMPT = "provider.attempt"


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model behind one provider, with its prices and deadline."""

    model: ModelConfig
    provider: Provider
    timeout: float

    @property
    def name(self) -> str:
        return self.model.name


class Attempt:
    """The span of one provider call: OpenTelemetry GenAI attribute names, status, timing."""

    __slots__ = ("attributes", "spans", "start")

    def __init__(self, dep: Deployment, spans: SpanRecorder) -> None:
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
    def __init__(self, deployments: dict[str, Deployment]) -> None:
        self._deployments = deployments

    def deployments(self) -> list[Deployment]:
        return list(self._deployments.values())

    def resolve(self, model: str, kind: str) -> Deployment:
        dep = self._deployments.get(model)
        if dep is None or dep.model.kind != kind:
            what = "chat model" if kind == "chat" else "embedding model"
            raise NotFound(f"The {what} '{model}' does not exist.", param="model", code="model_not_found")
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

    async def chat(self, dep: Deployment, body: JSON, spans: SpanRecorder) -> ChatResult:
        call = ChatCall(model=dep.model.upstream, body=body, timeout=dep.timeout)
        attempt = Attempt(dep, spans)
        result = await self._call(dep, lambda: dep.provider.chat(call), attempt)
        attempt.usage(result.usage.prompt_tokens, result.usage.completion_tokens)
        attempt.ok()
        return result

    async def embed(
        self, dep: Deployment, inputs: list[str], dimensions: int | None, spans: SpanRecorder
    ) -> EmbedResult:
        call = EmbedCall(model=dep.model.upstream, inputs=inputs, dimensions=dimensions, timeout=dep.timeout)
        attempt = Attempt(dep, spans)
        result = await self._call(dep, lambda: dep.provider.embed(call), attempt)
        attempt.usage(result.usage.prompt_tokens)
        attempt.ok()
        return result

    async def stream(self, dep: Deployment, body: JSON, spans: SpanRecorder) -> ChunkStream:
        """Open the stream and wait for its first chunk, so failures before any byte reaches the client
        surface as ordinary errors (right HTTP status) rather than as a broken stream."""
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
        return self._rest(dep, chunks, first, attempt)

    async def _rest(
        self, dep: Deployment, chunks: AsyncIterator[JSON], first: JSON | None, attempt: Attempt
    ) -> ChunkStream:
        try:
            if first is None:
                attempt.ok()
                return
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
