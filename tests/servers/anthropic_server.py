"""A small local server that speaks the Anthropic Messages API, for contract tests and manual runs.

    python tests/servers/anthropic_server.py --port 8790 [--api-key test-key]

The last user message picks the behaviour (it is a test server):

    "use the weather tool"   tool_use answer (streamed: input_json_delta split over several deltas)
    a tool_result turn       a text answer that quotes the tool result
    "rate limit"             429 rate_limit_error with retry-after: 7
    "overloaded"             529 overloaded_error
    "invalid request"        400 invalid_request_error
    "max tokens"             stop_reason max_tokens
    "stop sequence"          stop_reason stop_sequence (the first of the request's stop_sequences)
    "refuse"                 stop_reason refusal
    "cached"                 usage with cache_read_input_tokens / cache_creation_input_tokens
    "cut the stream"         stream: the body ends cleanly before message_stop
    "error mid-stream"       stream: an overloaded_error event after the first text delta
    anything else            "Hello from the Anthropic test server."

Requests are checked about as strictly as the real API (stricter on turn alternation, so translation
slips show up), and every request body and its headers are recorded for tests to assert on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

DEFAULT_REPLY = "Hello from the Anthropic test server."
WEATHER_INPUT = {"city": "Paris", "unit": "celsius"}
MODELS = ["claude-test-large", "claude-test-small"]


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _words(text: str) -> int:
    return len(text.split())


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _validate(body: Any) -> str | None:
    """The reason the real API would answer 400, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    tool_ids: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return f"messages.{i}: roles must alternate between user and assistant"
        content = msg.get("content")
        if isinstance(content, str):
            if not content:
                return f"messages.{i}: text content blocks must be non-empty"
            continue
        if not isinstance(content, list) or not content:
            return f"messages.{i}.content: must be a non-empty string or list"
        seen_other = False
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
            if kind == "tool_use":
                if role != "assistant" or not isinstance(block.get("input"), dict):
                    return f"messages.{i}: tool_use blocks need the assistant role and an input object"
                tool_ids.add(str(block.get("id")))
            elif kind == "tool_result":
                if role != "user" or block.get("tool_use_id") not in tool_ids or seen_other:
                    return f"messages.{i}: tool_result must answer an earlier tool_use and come first"
            elif kind not in ("text", "image"):
                return f"messages.{i}: unknown content block type {kind!r}"
            seen_other = seen_other or kind != "tool_result"
    last = messages[-1]
    if last["role"] == "assistant" and _text_of(last["content"]) != _text_of(last["content"]).rstrip():
        return "final assistant content cannot end with trailing whitespace"
    return None


class AnthropicServer:
    """The application plus what it recorded; ``base_url`` is set once it listens."""

    def __init__(self, *, api_key: str = "test-key", version: str = "2023-06-01") -> None:
        self.api_key = api_key
        self.version = version
        self.requests: list[JSON] = []
        self.headers: list[dict[str, str]] = []
        self.base_url = ""

    @property
    def last_request(self) -> JSON:
        return self.requests[-1]

    @property
    def last_headers(self) -> dict[str, str]:
        return self.headers[-1]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        return app

    def _check_headers(self, request: web.Request) -> web.Response | None:
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if request.headers.get("x-api-key") != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if request.headers.get("anthropic-version") != self.version:
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        return None

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_headers(request)) is not None:
            return denied
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in MODELS
        ]
        return web.json_response(
            {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_headers(request)) is not None:
            return denied
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "invalid_request_error", "body is not valid JSON")
        self.requests.append(body)
        if (problem := _validate(body)) is not None:
            return _error(400, "invalid_request_error", problem)
        last = body["messages"][-1]
        prompt = _text_of(last["content"]).lower() if last["role"] == "user" else ""
        if "rate limit" in prompt:
            return _error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                headers={"retry-after": "7"},
            )
        if "overloaded" in prompt:
            return _error(529, "overloaded_error", "Overloaded")
        if "invalid request" in prompt:
            return _error(400, "invalid_request_error", "messages.0.content: the prompt asked for a 400")
        message = self._answer(body, prompt)
        if body.get("stream"):
            return await self._stream(request, message, prompt)
        return web.json_response(message)

    # --- answers -------------------------------------------------------------------------------
    def _answer(self, body: JSON, prompt: str) -> JSON:
        last = body["messages"][-1]
        results = (
            [b for b in last["content"] if b.get("type") == "tool_result"]
            if isinstance(last["content"], list)
            else []
        )
        content: list[JSON]
        stop_reason, stop_sequence = "end_turn", None
        if results:
            content = [{"type": "text", "text": f"The tool said: {_text_of(results[0].get('content'))}"}]
        elif "use the weather tool" in prompt:
            content = [
                {"type": "text", "text": "Let me check the weather."},
                {"type": "tool_use", "id": "toolu_test_01", "name": "get_weather", "input": WEATHER_INPUT},
            ]
            stop_reason = "tool_use"
        else:
            content = [{"type": "text", "text": DEFAULT_REPLY}]
            if "max tokens" in prompt:
                stop_reason = "max_tokens"
            elif "stop sequence" in prompt:
                stop_reason, stop_sequence = "stop_sequence", (body.get("stop_sequences") or ["END"])[0]
            elif "refuse" in prompt:
                stop_reason = "refusal"
        prompt_words = sum(_words(_text_of(m["content"])) for m in body["messages"]) + _words(
            _text_of(body.get("system"))
        )
        usage: JSON = {
            "input_tokens": prompt_words,
            "output_tokens": sum(_words(_text_of([b])) for b in content),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if "cached" in prompt:
            usage.update(cache_creation_input_tokens=20, cache_read_input_tokens=100)
        return {
            "id": f"msg_test_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
        }

    async def _stream(self, request: web.Request, message: JSON, prompt: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await response.prepare(request)

        async def send(kind: str, data: JSON) -> None:
            await response.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode())

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        await send("message_start", {"message": start})
        await send("ping", {})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                await send(
                    "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
                )
                words = block["text"].split(" ")
                for i, word in enumerate(words):
                    piece = word if i == 0 else " " + word
                    await send(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
                    if "error mid-stream" in prompt:
                        await send("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
                        return response
                    if "cut the stream" in prompt and i == 1:
                        return response  # aiohttp ends the chunked body cleanly: no message_stop
            else:
                await send(
                    "content_block_start",
                    {
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                raw = json.dumps(block["input"])
                # An empty first delta, then uneven pieces that split keys and values, as the API does.
                for piece in ("", raw[:5], raw[5:14], raw[14:]):
                    await send(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
                    )
            await send("content_block_stop", {"index": index})
        await send(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        await send("message_stop", {})
        return response


@asynccontextmanager
async def serve(
    server: AnthropicServer | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[AnthropicServer]:
    """Run the server in this event loop (port 0: an ephemeral port) until the block exits."""
    server = server or AnthropicServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        server.base_url = f"http://{host}:{runner.addresses[0][1]}"
        yield server
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()
    web.run_app(AnthropicServer(api_key=args.api_key).app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
