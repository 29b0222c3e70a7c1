"""Server-sent events: parse ``data:`` payloads from an aiohttp response body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, bytes]]:
    """Yield ``(event, data)`` pairs; multi-line data is joined with newlines per the spec."""
    event = ""
    data: list[bytes] = []
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data)
            event, data = "", []
            continue
        if line.startswith(b":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode()
    if data:
        yield event, b"\n".join(data)
