"""Server-sent events to the client: chunks as they come, usage only if asked, ``[DONE]`` last.

A failure after the response has started cannot change the status code any more, so it ends the
stream with an OpenAI-shaped ``error`` event and no ``[DONE]``: never a truncation dressed as success.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson

from pilothouse.core.completions import CompletionBuilder
from pilothouse.core.errors import PilothouseError
from pilothouse.core.types import ChunkStream
from pilothouse.gateway.asgi import TRACE_HEADER, Receive, Send
from pilothouse.traces import TraceBuilder

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"


class ClientDisconnected(PilothouseError):
    status = 499
    code = "client_disconnected"


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def write_stream(
    send: Send,
    receive: Receive,
    chunks: ChunkStream,
    trace: TraceBuilder,
    *,
    include_usage: bool,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*SSE_HEADERS, *headers, (TRACE_HEADER, trace.trace_id.encode())],
        }
    )
    collector = CompletionBuilder()
    watcher = asyncio.get_running_loop().create_task(_wait_disconnect(receive))
    dumps = orjson.dumps
    start = time.perf_counter()
    sent = 0
    try:
        async for chunk in chunks:
            if collector.add(chunk):
                trace.mark_first_token()
            if "usage" in chunk and not include_usage:
                if not chunk.get("choices"):
                    continue  # the usage-only chunk the client did not ask for
                chunk = {k: v for k, v in chunk.items() if k != "usage"}
            await send(
                {"type": "http.response.body", "body": b"data: " + dumps(chunk) + b"\n\n", "more_body": True}
            )
            sent += 1
            if watcher.done():
                raise ClientDisconnected("the client closed the connection mid-stream")
        await send({"type": "http.response.body", "body": DONE, "more_body": False})
    except PilothouseError as err:
        trace.error = err  # the client already has a 200; the trace keeps that status
        if not isinstance(err, ClientDisconnected):
            event = b"data: " + dumps(err.to_dict()) + b"\n\n"
            await send({"type": "http.response.body", "body": event, "more_body": False})
    finally:
        watcher.cancel()
        await chunks.aclose()  # type: ignore[attr-defined]
        trace.output = collector.message()
        trace.fields["finish_reason"] = collector.finish_reason
        attributes: dict[str, Any] = {"pilothouse.chunks": sent, "pilothouse.include_usage": include_usage}
        if trace.error is not None:
            attributes["error.type"] = trace.error.code
        trace.add_span(
            "stream",
            start,
            time.perf_counter(),
            status="error" if trace.error else "ok",
            attributes=attributes,
        )
