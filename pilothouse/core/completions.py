"""Converting between a ``chat.completion`` and its ``chat.completion.chunk`` stream: one place for
the stream writer, the cache, idempotent replays and cascade streams."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pilothouse.core.types import JSON, Usage

CONTENT_PIECE = 48  # characters per replayed content chunk: a few chunks, not one per token


class CompletionBuilder:
    """Rebuilds the assistant message (text, tool calls, finish reason, usage) from chunks."""

    __slots__ = ("finish_reason", "head", "text", "tool_calls", "usage")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: JSON | None = None
        self.head: JSON = {}

    def add(self, chunk: JSON) -> bool:
        """Record a chunk; True if it carried answer content (for time to first token)."""
        if not self.head:
            self.head = {k: chunk.get(k) for k in ("id", "created", "model")}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        produced = False
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                produced = True
            for call in delta.get("tool_calls") or ():
                produced = True
                slot = self.tool_calls.setdefault(
                    call.get("index", 0),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if call.get("id"):
                    slot["id"] = call["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return produced

    def message(self) -> JSON:
        out: JSON = {"role": "assistant", "content": "".join(self.text)}
        if self.tool_calls:
            out["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
            if not out["content"]:
                out["content"] = None  # as a non-stream tool-call answer has it
        return out

    def completion(self) -> JSON:
        """The ``chat.completion`` the chunks amount to."""
        body: JSON = {
            "id": self.head.get("id"),
            "object": "chat.completion",
            "created": self.head.get("created"),
            "model": self.head.get("model"),
            "choices": [{"index": 0, "message": self.message(), "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            body["usage"] = self.usage
        return body


def assemble(chunks: Iterable[JSON]) -> tuple[JSON, Usage]:
    builder = CompletionBuilder()
    for chunk in chunks:
        builder.add(chunk)
    return builder.completion(), Usage.from_openai(builder.usage)


def chunks_of(completion: JSON, *, usage: Usage | None = None) -> list[JSON]:
    """A chunk sequence equivalent to ``completion``: role, content in a few pieces, tool calls, the
    finish reason, then usage (the stream writer drops it unless the client asked)."""
    base: JSON = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created") or int(time.time()),
        "model": completion.get("model"),
    }
    chunks: list[JSON] = []
    for choice in completion.get("choices") or [{}]:
        index = choice.get("index", 0)
        message = choice.get("message") or {}

        def chunk(delta: JSON, finish: str | None = None, index: int = index) -> JSON:
            return {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

        chunks.append(chunk({"role": "assistant", "content": ""}))
        content = message.get("content") or ""
        for start in range(0, len(content), CONTENT_PIECE):
            chunks.append(chunk({"content": content[start : start + CONTENT_PIECE]}))
        for i, call in enumerate(message.get("tool_calls") or ()):
            chunks.append(chunk({"tool_calls": [{"index": i, **call}]}))
        chunks.append(chunk({}, choice.get("finish_reason") or "stop"))
    reported = usage.to_openai() if usage is not None else completion.get("usage")
    if isinstance(reported, dict):
        chunks.append({**base, "choices": [], "usage": reported})
    return chunks


async def replay(chunks: Iterable[JSON]) -> AsyncIterator[JSON]:
    for chunk in chunks:
        yield chunk
