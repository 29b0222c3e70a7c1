"""Where guards read and rewrite message text, and how stream rewriting holds and releases text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.core.completions import CompletionBuilder
from pilothouse.gateway.guard_streams import rewritten_stream
from pilothouse.guard.messages import answer_text, map_texts, texts_of

pytestmark = pytest.mark.unit


def test_texts_cover_string_parts_and_tool_arguments() -> None:
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}],
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"q": 1}'}}],
    }
    assert list(texts_of(message)) == ["a", '{"q": 1}']
    assert list(texts_of({"role": "user", "content": "hi"})) == ["hi"]
    assert list(texts_of({"role": "assistant", "content": None})) == []


def test_map_texts_rewrites_a_copy_and_keeps_other_parts() -> None:
    message = {
        "role": "user",
        "content": [{"type": "text", "text": "abc"}, {"type": "image_url", "image_url": {"url": "x"}}],
    }
    out = map_texts(message, str.upper)
    assert out["content"][0] == {"type": "text", "text": "ABC"}
    assert out["content"][1] is message["content"][1]
    assert message["content"][0]["text"] == "abc"  # the client's body is never mutated
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": "x"}}
    rewritten = map_texts({"role": "assistant", "content": None, "tool_calls": [call]}, str.upper)
    assert rewritten["tool_calls"][0]["function"] == {"name": "f", "arguments": "X"}
    assert rewritten["content"] is None


def test_answer_text_joins_parts() -> None:
    assert answer_text({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "ab"
    assert answer_text(None) == ""


class HoldLast:
    """A rewriter that upper-cases and always holds its last character back."""

    def __init__(self) -> None:
        self.held = ""

    def feed(self, delta: str) -> str:
        text = self.held + delta
        self.held = text[-1:]
        return text[:-1].upper()

    def flush(self) -> str:
        out, self.held = self.held.upper(), ""
        return out


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"id": "c", "model": "m", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


async def source(chunks: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for c in chunks:
        yield c


async def test_held_text_is_sent_before_the_finish_chunk() -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "ab"}),
        chunk({"content": "cd"}),
        chunk({}, finish="stop"),
        {"id": "c", "model": "m", "choices": [], "usage": {"prompt_tokens": 1}},
    ]
    out = [c async for c in rewritten_stream(source(chunks), HoldLast)]
    builder = CompletionBuilder()
    for c in out:
        builder.add(c)
    assert builder.message()["content"] == "ABCD"
    finish_at = next(i for i, c in enumerate(out) if c["choices"] and c["choices"][0]["finish_reason"])
    assert out[finish_at - 1]["choices"][0]["delta"] == {"content": "D"}
    assert "usage" not in out[finish_at - 1]
    assert out[-1]["usage"] == {"prompt_tokens": 1}


async def test_tool_arguments_are_rewritten_per_call() -> None:
    head = {"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}
    chunks = [
        chunk({"tool_calls": [head]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ': "b"}'}}]}),
        chunk({}, finish="tool_calls"),
    ]
    builder = CompletionBuilder()
    async for c in rewritten_stream(source(chunks), HoldLast):
        builder.add(c)
    assert builder.message()["tool_calls"][0]["function"]["arguments"] == '{"A": "B"}'


async def test_a_stream_without_finish_reason_still_releases_held_text() -> None:
    out = [c async for c in rewritten_stream(source([chunk({"content": "xyz"})]), HoldLast)]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in out) == "XYZ"


@pytest.mark.parametrize("bad", [{"choices": None}, {"choices": ["not a dict"]}])
async def test_odd_chunks_pass_through(bad: dict[str, Any]) -> None:
    out = [c async for c in rewritten_stream(source([bad]), HoldLast)]
    assert out == [bad]
