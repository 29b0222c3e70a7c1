"""``providers.sse``: the SSE parser, fed the lines aiohttp's ``response.content`` yields."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import pytest

from pilothouse.providers.sse import sse_events

pytestmark = pytest.mark.unit


class FakeContent:
    """Iterates like ``aiohttp.StreamReader``: one line at a time, split on LF, the LF kept."""

    def __init__(self, raw: bytes) -> None:
        self.lines: list[bytes] = re.findall(rb"[^\n]*\n|[^\n]+$", raw)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            yield line


class FakeResponse:
    def __init__(self, raw: bytes) -> None:
        self.content = FakeContent(raw)


async def parse(raw: bytes) -> list[tuple[str, bytes]]:
    response = cast(aiohttp.ClientResponse, FakeResponse(raw))
    return [event async for event in sse_events(response)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(b"data: a\n\ndata: b\n\n", [("", b"a"), ("", b"b")], id="two-events"),
        pytest.param(b"data: line1\ndata: line2\n\n", [("", b"line1\nline2")], id="multi-line-data"),
        pytest.param(b": keep-alive\n\n:ping\ndata: x\n\n", [("", b"x")], id="comments-ignored"),
        pytest.param(b"data: a\r\n\r\ndata: b\r\n\r\n", [("", b"a"), ("", b"b")], id="crlf"),
        pytest.param(b"data: one\r\ndata: two\r\n\r\n", [("", b"one\ntwo")], id="crlf-multi-line"),
        pytest.param(
            b"event: message_start\ndata: {}\n\nevent: ping\ndata: 1\n\ndata: 2\n\n",
            [("message_start", b"{}"), ("ping", b"1"), ("", b"2")],
            id="event-names-reset-after-each-event",
        ),
        pytest.param(b"data:x\n\n", [("", b"x")], id="no-space-after-colon"),
        pytest.param(b"data:  x\n\n", [("", b" x")], id="only-one-space-stripped"),
        pytest.param(b'data: {"a": "b:c"}\n\n', [("", b'{"a": "b:c"}')], id="colons-in-value-kept"),
        pytest.param(b"data\n\n", [("", b"")], id="field-without-colon"),
        pytest.param(b"data:\n\n", [("", b"")], id="empty-data"),
        pytest.param(b"id: 5\nretry: 100\ndata: y\n\n", [("", b"y")], id="id-and-retry-ignored"),
        pytest.param(b"event: ping\n\n\n\n", [], id="events-without-data-dropped"),
        pytest.param(b"data: [DONE]", [("", b"[DONE]")], id="last-event-without-newline"),
        pytest.param(b"data: [DONE]\n", [("", b"[DONE]")], id="last-event-without-blank-line"),
        pytest.param(b"", [], id="empty-body"),
    ],
)
async def test_sse_events(raw: bytes, expected: list[tuple[str, bytes]]) -> None:
    assert await parse(raw) == expected


async def test_openai_stream_shape() -> None:
    raw = (
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        b": OPENROUTER PROCESSING\n\n"
        b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        b"data: [DONE]\n\n"
    )
    assert [data for _, data in await parse(raw)] == [
        b'{"choices":[{"delta":{"role":"assistant"}}]}',
        b'{"choices":[{"delta":{"content":"Hi"}}]}',
        b"[DONE]",
    ]
