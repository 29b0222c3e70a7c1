"""A very fast mock OpenAI upstream for benchmarks: raw asyncio protocol + httptools + orjson.

Serves, on loopback only:

- ``POST /v1/chat/completions``: a fixed answer with ``usage``; with ``"stream": true`` an SSE stream
  of ``--chunks`` content chunks (``--chunk-delay-ms`` apart), a usage chunk and ``data: [DONE]``;
- ``GET /v1/models``: one model;
- ``GET /healthz``: ``ok``.

Run: ``python bench/mock_upstream.py --port 18900 [--chunks 16] [--chunk-delay-ms 0] [--latency-ms 0]``.
It uses uvloop when installed. One process, one core: about ten times what the gateway does.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any, cast

import httptools
import orjson

MODEL = "mock-model"
COMPLETION_ID = "chatcmpl-mock0000000000000000"


def _chat_body() -> bytes:
    return orjson.dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": MODEL,
            "system_fingerprint": "fp_mock",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello! This is the mock upstream answering.",
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
        }
    )


def _sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _stream_events(chunks: int) -> list[bytes]:
    """The SSE events of one streamed answer, each already framed as one HTTP chunk."""
    base: dict[str, Any] = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": MODEL,
        "system_fingerprint": "fp_mock",
    }
    events: list[bytes] = []
    for i in range(chunks):
        delta: dict[str, Any] = {"content": f"tok{i} "}
        if i == 0:
            delta["role"] = "assistant"
        last = i == chunks - 1
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": "stop" if last else None}
        events.append(_sse({**base, "choices": [choice]}))
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    events.append(_sse({**base, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return [b"%x\r\n%s\r\n" % (len(e), e) for e in events]


MODELS_BODY = orjson.dumps(
    {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 1_700_000_000, "owned_by": "mock"}],
    }
)


def _response(status: bytes, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)
CHUNK_END = b"0\r\n\r\n"


class Settings:
    def __init__(self, chunks: int, chunk_delay: float, latency: float) -> None:
        self.chunk_delay = chunk_delay
        self.latency = latency
        self.chat = _response(b"200 OK", _chat_body())
        self.models = _response(b"200 OK", MODELS_BODY)
        self.health = _response(b"200 OK", b"ok", b"text/plain")
        self.not_found = _response(b"404 Not Found", b'{"error":{"message":"not found","type":"not_found"}}')
        self.bad_request = _response(b"400 Bad Request", b'{"error":{"message":"bad JSON","type":"invalid"}}')
        self.events = _stream_events(chunks)
        self.stream_whole = STREAM_HEAD + b"".join(self.events) + CHUNK_END


class MockProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive server; answers in request order (a stream blocks its connection)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.pending: list[tuple[bytes, bytes, bytes, bool]] = []
        self.busy = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(self.s.bad_request)
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        keep_alive = self.parser.should_keep_alive()
        request = (method, self.url, b"".join(self.body), keep_alive)
        if self.busy:
            self.pending.append(request)
        else:
            self._handle(*request)

    # answers
    def _handle(self, method: bytes, url: bytes, body: bytes, keep_alive: bool) -> None:
        t = self.transport
        if t is None:
            return
        path = url.split(b"?", 1)[0]
        if method == b"POST" and path in (b"/v1/chat/completions", b"/chat/completions"):
            try:
                data = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                self._reply(self.s.bad_request, keep_alive)
                return
            stream = isinstance(data, dict) and data.get("stream") is True
            if stream and self.s.chunk_delay > 0:
                self.busy = True
                asyncio.get_running_loop().create_task(self._slow_stream(keep_alive))
            elif stream:
                self._later(self.s.stream_whole, keep_alive)
            else:
                self._later(self.s.chat, keep_alive)
        elif method == b"GET" and path in (b"/v1/models", b"/models"):
            self._reply(self.s.models, keep_alive)
        elif path == b"/healthz":
            self._reply(self.s.health, keep_alive)
        else:
            self._reply(self.s.not_found, keep_alive)

    def _later(self, payload: bytes, keep_alive: bool) -> None:
        if self.s.latency <= 0:
            self._reply(payload, keep_alive)
            return
        self.busy = True

        def fire() -> None:
            self.busy = False
            self._reply(payload, keep_alive)
            self._next()

        asyncio.get_running_loop().call_later(self.s.latency, fire)

    def _reply(self, payload: bytes, keep_alive: bool) -> None:
        t = self.transport
        if t is None:
            return
        t.write(payload)
        if not keep_alive:
            t.close()

    async def _slow_stream(self, keep_alive: bool) -> None:
        try:
            if self.s.latency > 0:
                await asyncio.sleep(self.s.latency)
            if self.transport is None:
                return
            self.transport.write(STREAM_HEAD)
            for i, event in enumerate(self.s.events):
                if i and self.s.chunk_delay > 0:
                    await asyncio.sleep(self.s.chunk_delay)
                if self.transport is None:
                    return
                self.transport.write(event)
            self._reply(CHUNK_END, keep_alive)
        finally:
            self.busy = False
            self._next()

    def _next(self) -> None:
        while self.pending and not self.busy:
            self._handle(*self.pending.pop(0))


async def serve(host: str, port: int, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: MockProtocol(settings), host, port, backlog=2048, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mock upstream listening on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed (it is part of uvicorn[standard]), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (127.0.0.0/8)")
    parser.add_argument("--port", type=int, default=18900)
    parser.add_argument("--chunks", type=int, default=16, help="content chunks per streamed answer")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between stream chunks")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="pause before each answer")
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("the mock listens on loopback only")
    settings = Settings(max(1, args.chunks), args.chunk_delay_ms / 1000.0, args.latency_ms / 1000.0)
    started = time.perf_counter()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(args.host, args.port, settings))
    except KeyboardInterrupt:
        pass
    finally:
        print(f"mock upstream stopped after {time.perf_counter() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
