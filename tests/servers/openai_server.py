"""A small OpenAI-compatible server for tests: the real HTTP upstream behind providers and the gateway.

In-process, on an ephemeral loopback port::

    async with running_openai_server() as server:
        provider = build_provider("up", ProviderConfig(type="openai", base_url=server.base_url,
                                                       api_key=server.api_key))
        ...
        assert server.last_request.json["model"] == "gpt-4o-mini"

Out of process (prints the base URL on its first line of stdout, stops on SIGTERM/SIGINT)::

    python -m tests.servers.openai_server --port 0 --api-key sk-test

Endpoints: ``POST /v1/chat/completions`` (JSON or SSE stream), ``POST /v1/embeddings``,
``GET /v1/models``; as Azure OpenAI, with a required ``api-version`` query parameter, also
``POST /openai/deployments/{deployment}/chat/completions|embeddings`` and ``GET /openai/models``.
The key is checked from ``Authorization: Bearer`` or ``api-key``; every request, answered or not, is
recorded in ``server.requests`` (``server.last_request``, ``server.requests_to("/embeddings")``).

Answers are deterministic:
    text             ``"Echo: <last user message>"``; after a ``tool`` message ``"Tool said: <content>"``
    tool calls       when ``tools`` are given, ``tool_choice`` is not "none" and either forces a function
                     or the last user message names a tool (or says "tool"); arguments are built from the
                     function's JSON schema, strings taking the user's text
    response_format  ``json_object`` -> ``{"reply": <text>}``; ``json_schema`` -> an instance of the schema
    usage            whitespace-separated words of the messages (prompt) and of the answer (completion)
    embeddings       unit vectors derived from a hash of each input (same text, same vector)

Faults are chosen by the request's ``model``:
    fail-NNN          HTTP NNN with an OpenAI error body; 429 and 503 send ``Retry-After: retry_after``
    context-overflow  400 ``context_length_exceeded``
    slow              wait ``slow_seconds`` before answering
    slow-stream       stream the first chunk, then stall ``slow_seconds``
    broken-stream     stream some content, then drop the connection (no finish_reason, no [DONE])
    no-done           stream a complete answer with its finish_reason, but no ``data: [DONE]``
    stream-error      stream some content, then an ``{"error": ...}`` event
    bad-json          HTTP 200 with a body (or, streaming, an event) that is not JSON
    fragmented        stream the normal answer in 5-byte writes (events split across TCP segments)
    huge-event        stream one content delta of ``HUGE_EVENT_BYTES``
    reversed          embeddings listed in reverse index order
``server.fail_next(status, times=n)`` makes the next n requests fail whatever their model.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import math
import re
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

JSON = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_API_KEY = "sk-test-openai-server"
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
HUGE_EVENT_BYTES = 600 * 1024  # one SSE line longer than aiohttp reads (512 KiB)
_FAIL = re.compile(r"fail-(\d{3})")
_BREAKS = ("broken-stream", "stream-error", "bad-json")


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server received it; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    body: Any = None  # the parsed JSON body, or None

    @property
    def json(self) -> JSON:
        """The body as a JSON object (fails the test if it was not one)."""
        assert isinstance(self.body, dict), f"request body is not a JSON object: {self.raw[:200]!r}"
        return self.body


@dataclass(slots=True)
class _Failure:
    status: int
    times: int
    retry_after: float | None


@dataclass
class OpenAIServer:
    """The server's state; start it with ``running_openai_server()`` (or ``start``/``stop``)."""

    api_key: str | None = DEFAULT_API_KEY
    models: Sequence[str] = DEFAULT_MODELS
    slow_seconds: float = 3.0
    retry_after: float = 2.0
    embedding_dimensions: int = 8
    requests: list[RecordedRequest] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    _failures: list[_Failure] = field(default_factory=list, init=False, repr=False)
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _ids: itertools.count[int] = field(default_factory=itertools.count, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    def azure_base_url(self, deployment: str) -> str:
        return f"{self.url}/openai/deployments/{deployment}"

    @property
    def last_request(self) -> RecordedRequest:
        assert self.requests, "the server has received no request"
        return self.requests[-1]

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``endpoint`` (e.g. ``"/chat/completions"``)."""
        return [r for r in self.requests if r.path.endswith(endpoint)]

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with HTTP ``status`` (to test retries and fallbacks)."""
        self._failures.append(_Failure(status, times, retry_after))

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._authenticate])
        for prefix in ("/v1", "/openai/deployments/{deployment}"):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_post(f"{prefix}/embeddings", self._embeddings)
        # As Azure: models are listed per resource, not per deployment.
        for path in ("/v1/models", "/openai/models"):
            app.router.add_get(path, self._models)
        return app

    async def start(self) -> None:
        # handler_cancellation: a slow handler stops when its client gives up, so stop() is quick.
        self._runner = web.AppRunner(
            self.make_app(), handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- middlewares -------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            body=body,
        )
        self.requests.append(recorded)
        if request.method == "POST" and not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        return await handler(request)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/openai/") and "api-version" not in request.query:
            return _error(404, "Resource not found (missing api-version)", "invalid_request_error", "404")
        if self.api_key is not None:
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if self.api_key not in (bearer, request.headers.get("api-key")):
                return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return self._status_error(failure.status, failure.retry_after)
        return await handler(request)

    # --- endpoints ---------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        model = str(body.get("model") or request.match_info.get("deployment", ""))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(
                400, "'messages' must be a non-empty array", "invalid_request_error", param="messages"
            )
        if fault := await self._fault(model):
            return fault
        answer = _answer(body)
        completion_id = f"chatcmpl-test{next(self._ids)}"
        if body.get("stream"):
            return await self._stream(request, body, model, completion_id, answer)
        if model == "bad-json":
            return web.Response(
                status=200, body=b'{"id": "chatcmpl-bad", "choices": [', content_type="application/json"
            )
        message: JSON = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.tool_calls:
            message["tool_calls"] = answer.tool_calls
        return _json(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish}
                ],
                "usage": answer.usage(),
            }
        )

    async def _stream(
        self, request: web.Request, body: JSON, model: str, completion_id: str, answer: _Answer
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())

        def chunk(delta: JSON, finish: str | None = None) -> bytes:
            data: JSON = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = None
            return _event(data)

        response = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        await response.prepare(request)

        async def send(data: bytes) -> None:
            if model != "fragmented":
                await response.write(data)
                return
            for i in range(0, len(data), 5):  # splits "data:", JSON and the blank line across writes
                await response.write(data[i : i + 5])
                await asyncio.sleep(0)

        first: JSON = {"role": "assistant", "content": "" if answer.text is not None else None}
        if answer.tool_calls:
            first["tool_calls"] = [
                {"index": index, **call, "function": {**call["function"], "arguments": ""}}
                for index, call in enumerate(answer.tool_calls)
            ]
        await send(chunk(first))
        if model == "slow-stream":
            await asyncio.sleep(self.slow_seconds)
        pieces = ["x" * HUGE_EVENT_BYTES] if model == "huge-event" else _pieces(answer.text or "")
        for index, call in enumerate(answer.tool_calls):
            for part in _split(call["function"]["arguments"], 3):
                await send(chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
        for n, piece in enumerate(pieces):
            await send(chunk({"content": piece}))
            if n == 0 and model in _BREAKS:
                return await self._break_stream(request, response, model)
        if model in _BREAKS:
            return await self._break_stream(request, response, model)
        await send(chunk({}, answer.finish))
        if include_usage:
            usage = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_test",
                "choices": [],
                "usage": answer.usage(),
            }
            await send(_event(usage))
        if model != "no-done":
            await send(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _break_stream(
        self, request: web.Request, response: web.StreamResponse, model: str
    ) -> web.StreamResponse:
        if model == "stream-error":
            await response.write(
                _event(
                    {
                        "error": {
                            "message": "The server had an error while processing your request.",
                            "type": "server_error",
                            "code": None,
                        }
                    }
                )
            )
        elif model == "bad-json":
            await response.write(b'data: {"choices": [{"delta": \n\n')
        else:
            # Close the socket before the chunked body ends: the client sees a truncated payload.
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        model = str(body.get("model") or request.match_info.get("deployment", ""))
        raw_input = body.get("input")
        inputs = [raw_input] if isinstance(raw_input, str) else raw_input
        if not isinstance(inputs, list) or not inputs:
            return _error(
                400, "'input' must be a string or a non-empty array", "invalid_request_error", param="input"
            )
        if fault := await self._fault(model):
            return fault
        dimensions = int(body.get("dimensions") or self.embedding_dimensions)
        as_base64 = body.get("encoding_format") == "base64"
        items = []
        for index, text in enumerate(inputs):
            vector = embedding_vector(str(text), dimensions)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
            )
            items.append({"object": "embedding", "index": index, "embedding": encoded})
        if model == "reversed":
            items.reverse()
        tokens = sum(_count_tokens(str(text)) for text in inputs)
        return _json(
            {
                "object": "list",
                "data": items,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "pilothouse-tests"}
            for m in self.models
        ]
        return _json({"object": "list", "data": data})

    # --- faults ------------------------------------------------------------------------------------

    async def _fault(self, model: str) -> web.StreamResponse | None:
        if match := _FAIL.fullmatch(model):
            return self._status_error(int(match.group(1)), None)
        if model == "context-overflow":
            return _error(
                400,
                "This model's maximum context length is 8192 tokens. However, your messages "
                "resulted in 9000 tokens.",
                "invalid_request_error",
                "context_length_exceeded",
                param="messages",
            )
        if model == "slow":
            await asyncio.sleep(self.slow_seconds)
        return None

    def _status_error(self, status: int, retry_after: float | None) -> web.StreamResponse:
        kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status)
        kind = kind or ("invalid_request_error" if status < 500 else "server_error")
        response = _error(status, f"Injected failure: HTTP {status}", kind, str(status))
        if status in (429, 503):
            response.headers["retry-after"] = (
                f"{retry_after if retry_after is not None else self.retry_after:g}"
            )
        return response


# --- answers --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Answer:
    text: str | None
    tool_calls: list[JSON]
    finish: str
    prompt_tokens: int

    def usage(self) -> JSON:
        completion = _count_tokens(self.text or "") + sum(
            _count_tokens(c["function"]["arguments"].replace('"', " ")) for c in self.tool_calls
        )
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


def _answer(body: JSON) -> _Answer:
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    prompt_tokens = sum(_count_tokens(_text_of(m.get("content"))) for m in messages)
    last = messages[-1] if messages else {}
    user_text = _text_of(last.get("content"))
    if last.get("role") == "tool":
        text = f"Tool said: {user_text}"
    else:
        user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        text = f"Echo: {_text_of(user.get('content'))}"
    function = _tool_to_call(body, last)
    if function is not None:
        arguments = example_for_schema(function.get("parameters"), user_text)
        call = {
            "id": f"call_{hashlib.sha256(user_text.encode()).hexdigest()[:24]}",
            "type": "function",
            "function": {"name": function["name"], "arguments": orjson.dumps(arguments).decode()},
        }
        return _Answer(None, [call], "tool_calls", prompt_tokens)
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_object":
            text = orjson.dumps({"reply": text}).decode()
        elif response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            text = orjson.dumps(example_for_schema(schema, text)).decode()
    return _Answer(text, [], "stop", prompt_tokens)


def _tool_to_call(body: JSON, last: JSON) -> JSON | None:
    functions: list[JSON] = [
        t["function"]
        for t in body.get("tools") or ()
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and t["function"].get("name")
    ]
    choice = body.get("tool_choice", "auto")
    if not functions or choice == "none" or last.get("role") != "user":
        return None
    if isinstance(choice, dict):
        forced = (choice.get("function") or {}).get("name")
        return next((f for f in functions if f["name"] == forced), None)
    text = _text_of(last.get("content")).lower()
    named = next((f for f in functions if f["name"].lower() in text), None)
    if named is not None:
        return named
    return functions[0] if choice == "required" or re.search(r"\btools?\b", text) else None


def example_for_schema(schema: Any, text: str) -> Any:
    """A value that satisfies a (simple) JSON schema; strings take ``text``."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example_for_schema(schema[key][0], text)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        return {name: example_for_schema(sub, text) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [example_for_schema(items, text)] * max(1, int(schema.get("minItems") or 1)) if items else []
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), text)


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    raw = b"".join(hashlib.sha256(f"{i}:{text}".encode()).digest() for i in range(dimensions // 8 + 1))
    values = [int.from_bytes(raw[4 * i : 4 * i + 4], "big") / 2**31 - 1.0 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


async def _json_body(request: web.Request) -> JSON:
    body = orjson.loads(await request.read())  # aiohttp caches the body; ``_record`` checked it
    assert isinstance(body, dict)
    return body


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return ""


def _count_tokens(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """Word-sized stream deltas that join back to ``text``."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def _split(text: str, parts: int) -> list[str]:
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _event(data: JSON) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _json(data: JSON, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def _error(
    status: int, message: str, kind: str, code: str | None = None, *, param: str | None = None
) -> web.Response:
    return _json({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


@asynccontextmanager
async def running_openai_server(
    *,
    api_key: str | None = DEFAULT_API_KEY,
    models: Sequence[str] = DEFAULT_MODELS,
    slow_seconds: float = 3.0,
    retry_after: float = 2.0,
    embedding_dimensions: int = 8,
) -> AsyncIterator[OpenAIServer]:
    """Run an ``OpenAIServer`` on an ephemeral loopback port for the ``async with`` block.

    ``api_key=None`` accepts any key; ``slow_seconds`` is how long "slow" models stall.
    """
    server = OpenAIServer(
        api_key=api_key,
        models=models,
        slow_seconds=slow_seconds,
        retry_after=retry_after,
        embedding_dimensions=embedding_dimensions,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _serve(args: argparse.Namespace) -> None:
    server = OpenAIServer(
        api_key=args.api_key or None, host=args.host, port=args.port, slow_seconds=args.slow_seconds
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(server.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible test server (see the module docstring)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port; the base URL is printed")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="empty string: accept any key")
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
