"""Guards over answer streams: text rewritten as it flows (placeholders restored, new PII
redacted), with only as much held back as the rewriting needs.

Each choice's content and each tool call's arguments get their own rewriter (``feed`` returns
what is safe to send now, ``flush`` the rest). Held text is sent in an extra chunk just before
the chunk that carries the choice's ``finish_reason``, so clients see it before the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from pilothouse.core.types import JSON, ChunkStream
from pilothouse.guard.redact import Redactor
from pilothouse.guard.stream_redact import StreamRedactor


class Rewriter(Protocol):
    def feed(self, delta: str) -> str: ...

    def flush(self) -> str: ...


class _Chain:
    """Several rewriters one after the other (one per redacting guard)."""

    def __init__(self, rewriters: Sequence[Rewriter]) -> None:
        self._rewriters = rewriters

    def feed(self, delta: str) -> str:
        for rewriter in self._rewriters:
            delta = rewriter.feed(delta)
        return delta

    def flush(self) -> str:
        out = ""
        for rewriter in self._rewriters:
            out = rewriter.feed(out) + rewriter.flush()
        return out


def redactor_chain(redactors: Sequence[Redactor], *, restore: bool) -> Callable[[], Rewriter]:
    """A factory of rewriters that restore (or redact with) each redactor in turn."""

    def make() -> Rewriter:
        order = list(reversed(redactors)) if restore else list(redactors)
        return _Chain([StreamRedactor(r, restore=restore, redact=not restore) for r in order])

    return make


def restored_stream(chunks: ChunkStream, restorers: Sequence[Redactor]) -> ChunkStream:
    make = redactor_chain(restorers, restore=True)
    return rewritten_stream(chunks, make)


async def rewritten_stream(chunks: ChunkStream, make: Callable[[], Rewriter]) -> ChunkStream:
    contents: dict[int, Rewriter] = {}
    arguments: dict[tuple[int, int], Rewriter] = {}
    last: JSON | None = None
    try:
        async for chunk in chunks:
            last = chunk
            choices = chunk.get("choices")
            if not isinstance(choices, list) or not choices:
                yield chunk
                continue
            rewritten: list[Any] = []
            for choice in choices:
                if not isinstance(choice, dict):
                    rewritten.append(choice)
                    continue
                index = int(choice.get("index") or 0)
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    choice = {**choice, "delta": _rewrite_delta(delta, index, make, contents, arguments)}
                if choice.get("finish_reason") is not None:
                    rest = _flush(index, contents, arguments)
                    if rest is not None:
                        yield _held_chunk(chunk, index, rest)
                rewritten.append(choice)
            yield {**chunk, "choices": rewritten}
        for index in sorted({i for i in contents} | {i for i, _ in arguments}):
            rest = _flush(index, contents, arguments)  # a stream that ended without finish_reason
            if rest is not None and last is not None:
                yield _held_chunk(last, index, rest)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


def _rewrite_delta(
    delta: JSON,
    index: int,
    make: Callable[[], Rewriter],
    contents: dict[int, Rewriter],
    arguments: dict[tuple[int, int], Rewriter],
) -> JSON:
    out = dict(delta)
    content = delta.get("content")
    if isinstance(content, str):
        rewriter = contents.get(index)
        if rewriter is None:
            rewriter = contents[index] = make()
        out["content"] = rewriter.feed(content)
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        new_calls = []
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key = (index, int(call.get("index") or 0))
                rewriter = arguments.get(key)
                if rewriter is None:
                    rewriter = arguments[key] = make()
                call = {**call, "function": {**function, "arguments": rewriter.feed(function["arguments"])}}
            new_calls.append(call)
        out["tool_calls"] = new_calls
    return out


def _flush(
    index: int, contents: dict[int, Rewriter], arguments: dict[tuple[int, int], Rewriter]
) -> JSON | None:
    """The held text of one choice as a delta, or None when nothing was held."""
    delta: JSON = {}
    rewriter = contents.pop(index, None)
    if rewriter is not None:
        text = rewriter.flush()
        if text:
            delta["content"] = text
    calls = []
    for key in sorted(k for k in arguments if k[0] == index):
        text = arguments.pop(key).flush()
        if text:
            calls.append({"index": key[1], "function": {"arguments": text}})
    if calls:
        delta["tool_calls"] = calls
    return delta or None


def _held_chunk(template: JSON, index: int, delta: JSON) -> JSON:
    chunk = {k: v for k, v in template.items() if k not in ("choices", "usage")}
    chunk["choices"] = [{"index": index, "delta": delta, "finish_reason": None}]
    return chunk
