"""Streams: fall back before the first byte like any request; after it, a stream that breaks or
stalls resumes on a fallback that continues a trailing assistant message (prefill), so the client
sees one seamless answer. With no capable fallback the stream ends with ``finish_reason: "error"``
and an error event: never a truncation presented as success."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from pilothouse.core.errors import PilothouseError, ProviderBadResponse, ProviderTimeout
from pilothouse.core.ports import Lease, TraceRecorder
from pilothouse.core.tokens import estimate_text_tokens
from pilothouse.core.types import JSON, ChatCall, ChunkStream, Usage
from pilothouse.routing.attempt import Attempt
from pilothouse.routing.failures import classify
from pilothouse.routing.plan import Plan, Planner, within
from pilothouse.routing.route import Deployment, Route

# Once the answer has its finish_reason, wait this long at most for the usage chunk and [DONE]:
# a server that never sends [DONE] must not hold the client until the idle window ends.
TAIL_GRACE_SECONDS = 1.0


@dataclass
class _Opened:
    dep: Deployment
    index: int
    attempt: Attempt
    chunks: AsyncIterator[JSON]
    first: JSON
    lease: Lease | None
    done: bool = False


@dataclass
class _Answer:
    """What the client has been sent so far."""

    text: list[str] = field(default_factory=list)
    tool_calls: bool = False
    finished: bool = False
    usage: bool = False
    stream_id: str | None = None
    created: int = 0


async def _close(chunks: AsyncIterator[JSON]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class StreamRouter:
    def __init__(self, planner: Planner) -> None:
        self._planner = planner

    async def open(self, route: Route, body: JSON, trace: TraceRecorder) -> ChunkStream:
        plan = self._planner.plan(route, body)
        opened = await self._open(plan, body, trace, list(enumerate(plan.candidates)))
        if opened is None:
            raise plan.exhausted()
        return self._relay(plan, body, trace, opened)

    async def _open(
        self, plan: Plan, body: JSON, trace: TraceRecorder, candidates: Sequence[tuple[int, Deployment]]
    ) -> _Opened | None:
        """The first deployment that starts streaming within the time-to-first-token limit."""
        config = plan.route.config
        for index, dep in candidates:
            admitted, lease = await self._planner.admit(plan, dep, trace)
            if not admitted:
                continue
            for attempt_no in range(config.retry.attempts):
                remaining = plan.remaining()
                if remaining <= 0:
                    break
                first_token = min(config.ttft_timeout or dep.timeout, dep.timeout, remaining)
                attempt = Attempt(dep, trace, **{"pilothouse.retry": attempt_no, "pilothouse.stream": True})
                chunks = aiter(
                    dep.provider.stream(ChatCall(model=dep.model.upstream, body=body, timeout=dep.timeout))
                )
                try:
                    try:
                        first = await within(anext(chunks), first_token, dep, "no first token")
                    except StopAsyncIteration:
                        raise ProviderBadResponse(
                            f"{dep.provider.name}: empty stream", provider=dep.provider.name
                        ) from None
                except PilothouseError as err:
                    await _close(chunks)
                    attempt.failed(err)
                    await self._planner.record(dep, err, attempt.elapsed())
                    if not await self._planner.recoverable(plan, err, attempt_no):
                        if lease is not None:
                            await lease.release(0)
                        raise
                    if plan.retry_now:
                        continue
                    break
                attempt.attributes["pilothouse.ttft_ms"] = round(attempt.elapsed() * 1000, 3)
                trace.fields["served_model"] = dep.name
                trace.fields["provider"] = dep.provider.name
                return _Opened(dep, index, attempt, chunks, first, lease)
            if lease is not None:
                await lease.release(0)
        return None

    async def _relay(self, plan: Plan, body: JSON, trace: TraceRecorder, opened: _Opened) -> ChunkStream:
        idle = plan.route.config.stream_idle_timeout
        answer = _Answer()
        current = opened
        resumed = False
        try:
            while True:
                dep = current.dep
                pending: JSON | None = current.first
                error: PilothouseError | None = None
                try:
                    while True:
                        if pending is not None:
                            chunk, pending = pending, None
                        else:
                            wait = min(TAIL_GRACE_SECONDS, idle) if answer.finished else idle
                            try:
                                async with asyncio.timeout(wait):
                                    chunk = await anext(current.chunks)
                            except StopAsyncIteration:
                                break
                            except TimeoutError:
                                if answer.finished:
                                    break  # complete answer, silent server: finalise now
                                raise stalled(dep, idle) from None
                        if self._note(chunk, dep, answer, current) and resumed:
                            continue  # the continuation's opening role chunk: the client has one already
                        yield chunk
                except PilothouseError as err:
                    error = err
                if error is None:
                    await self._finish(current, None, trace)
                    if answer.finished and not answer.usage:
                        trace.flags.append("usage_estimated")
                        yield self._estimated_usage(plan, dep, answer)
                    return
                await self._finish(current, error, trace)
                nxt = await self._resume(plan, body, trace, current, answer, error)
                if nxt is None:
                    yield {
                        "id": answer.stream_id or "",
                        "object": "chat.completion.chunk",
                        "created": answer.created,
                        "model": dep.name,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
                    }
                    raise error
                trace.flags.append("stream_resumed")
                current, resumed = nxt, True
        finally:
            if not current.done:  # the client went away or the task was cancelled
                await self._finish(current, None, trace, cancelled=True)

    def _note(self, chunk: JSON, dep: Deployment, answer: _Answer, current: _Opened) -> bool:
        """Track the answer and make chunks look like one stream; True for a role-only chunk."""
        chunk["model"] = dep.name
        if answer.stream_id is None:
            answer.stream_id = chunk.get("id")
            answer.created = int(chunk.get("created") or time.time())
        else:
            chunk["id"], chunk["created"] = answer.stream_id, answer.created
        role_only = False
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                answer.text.append(delta["content"])
            if delta.get("tool_calls"):
                answer.tool_calls = True
            if choice.get("finish_reason"):
                answer.finished = True
            role_only = (
                not delta.get("content") and not delta.get("tool_calls") and not choice.get("finish_reason")
            )
        usage = chunk.get("usage")
        if usage:
            answer.usage = True
            current.attempt.usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        return role_only

    async def _finish(
        self,
        current: _Opened,
        error: PilothouseError | None,
        trace: TraceRecorder,
        *,
        cancelled: bool = False,
    ) -> None:
        current.done = True
        await _close(current.chunks)
        if cancelled:
            current.attempt.failed(None)
        elif error is None:
            current.attempt.ok()
            await self._planner.record(current.dep, None, current.attempt.elapsed())
        else:
            current.attempt.failed(error)
            await self._planner.record(current.dep, error, current.attempt.elapsed())
        if current.lease is not None:
            await current.lease.release(current.attempt.attributes.get("gen_ai.usage.output_tokens"))

    async def _resume(
        self,
        plan: Plan,
        body: JSON,
        trace: TraceRecorder,
        broken: _Opened,
        answer: _Answer,
        error: PilothouseError,
    ) -> _Opened | None:
        """Continue the answer on a later candidate that supports prefill, if the failure allows it."""
        error_class = classify(error)
        if answer.tool_calls or error_class is None or error_class not in plan.route.config.fallback_on:
            return None
        candidates = [(i, d) for i, d in enumerate(plan.candidates) if i > broken.index and d.model.prefill]
        if not candidates:
            return None
        plan.deadline = time.monotonic() + plan.route.config.deadline  # a fresh window for the restart
        messages = [*body.get("messages", []), {"role": "assistant", "content": "".join(answer.text)}]
        continuation = {**body, "messages": messages}
        trace.attributes["resumed_after_chars"] = len("".join(answer.text))
        try:
            return await self._open(plan, continuation, trace, candidates)
        except PilothouseError:
            return None

    @staticmethod
    def _estimated_usage(plan: Plan, dep: Deployment, answer: _Answer) -> JSON:
        usage = Usage(
            prompt_tokens=plan.prompt_tokens, completion_tokens=estimate_text_tokens("".join(answer.text))
        )
        return {
            "id": answer.stream_id or "",
            "object": "chat.completion.chunk",
            "created": answer.created,
            "model": dep.name,
            "choices": [],
            "usage": usage.to_openai(),
        }


def stalled(dep: Deployment, idle: float) -> PilothouseError:
    return ProviderTimeout(
        f"{dep.provider.name}: stream stalled, no chunk for {idle:g}s", provider=dep.provider.name
    )
