"""The ``openai`` provider against a real OpenAI-compatible server on loopback HTTP.

Every test goes through ``build_provider`` (config -> adapter), real aiohttp sockets and real SSE, so
the adapter, ``providers.http`` and ``providers.sse`` are checked together as the gateway uses them.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from pilothouse.core.config import ProviderConfig
from pilothouse.core.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from pilothouse.core.ports import Provider
from pilothouse.core.types import JSON, ChatCall, EmbedCall, Usage
from pilothouse.providers import build_provider
from tests.servers.openai_server import DEFAULT_MODELS, OpenAIServer, embedding_vector, running_openai_server

pytestmark = pytest.mark.contract

REPO_ROOT = Path(__file__).resolve().parents[2]
WEATHER_TOOL: JSON = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


def user(text: str) -> JSON:
    return {"model": "public-alias", "messages": [{"role": "user", "content": text}]}


def make_provider(base_url: str, api_key: str | None, **options: Any) -> Provider:
    return build_provider("up", ProviderConfig(type="openai", base_url=base_url, api_key=api_key, **options))


async def collect(provider: Provider, call: ChatCall) -> list[JSON]:
    return [chunk async for chunk in provider.stream(call)]


async def drain(provider: Provider, call: ChatCall, *, into: list[JSON]) -> None:
    async for chunk in provider.stream(call):
        into.append(chunk)


def text_of(chunks: list[JSON]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with running_openai_server(slow_seconds=3.0) as running:
        yield running


@pytest.fixture
async def provider(server: OpenAIServer) -> AsyncIterator[Provider]:
    adapter = make_provider(server.base_url, server.api_key)
    yield adapter
    await adapter.aclose()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens (the port was just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- chat ------------------------------------------------------------------------------------------


async def test_chat_forwards_the_body_with_the_upstream_model(server: OpenAIServer) -> None:
    body = {
        **user("hello upstream"),
        "temperature": 0.2,
        "max_tokens": 50,
        "seed": 7,
        "user": "end-user-1",
        "logit_bias": {"50256": -100},
        "stream_options": {"include_usage": True},
    }
    provider = make_provider(
        server.base_url, server.api_key, organization="org-1", headers={"x-team": "search"}
    )
    try:
        result = await provider.chat(ChatCall(model="gpt-4o-mini", body=body))
    finally:
        await provider.aclose()

    sent = server.last_request
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1/chat/completions", {})
    expected = {k: v for k, v in body.items() if k != "stream_options"}
    assert sent.json == {**expected, "model": "gpt-4o-mini", "stream": False}
    assert sent.headers["authorization"] == f"Bearer {server.api_key}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["openai-organization"] == "org-1"
    assert sent.headers["x-team"] == "search"
    assert result.body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: hello upstream",
        "refusal": None,
    }
    assert result.body["model"] == "gpt-4o-mini"
    assert result.usage == Usage(prompt_tokens=2, completion_tokens=3)


async def test_tool_call_round_trip(server: OpenAIServer, provider: Provider) -> None:
    question = {"role": "user", "content": "What is the weather in Paris? Use get_weather."}
    first = await provider.chat(
        ChatCall(
            model="gpt-4o",
            body={
                "model": "m",
                "messages": [question],
                "tools": [WEATHER_TOOL],
                "tool_choice": "auto",
                "parallel_tool_calls": False,
            },
        )
    )
    assert server.last_request.json["tools"] == [WEATHER_TOOL]
    assert server.last_request.json["parallel_tool_calls"] is False
    choice = first.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["function"]["name"] == "get_weather"
    assert orjson.loads(tool_call["function"]["arguments"]) == {
        "city": question["content"],
        "unit": "celsius",
    }

    messages = [
        question,
        choice["message"],
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "18C and sunny"},
    ]
    second = await provider.chat(
        ChatCall(model="gpt-4o", body={"model": "m", "messages": messages, "tools": [WEATHER_TOOL]})
    )
    assert server.last_request.json["messages"] == messages
    assert second.body["choices"][0]["finish_reason"] == "stop"
    assert second.body["choices"][0]["message"]["content"] == "Tool said: 18C and sunny"


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"reply": "Echo: give me json"}),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "verdict",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "label": {"type": "string", "enum": ["spam", "ham"]},
                            "score": {"type": "number"},
                        },
                        "required": ["label", "score"],
                        "additionalProperties": False,
                    },
                },
            },
            {"label": "spam", "score": 1.5},
        ),
    ],
    ids=["json_object", "json_schema"],
)
async def test_response_format_is_forwarded(
    server: OpenAIServer, provider: Provider, response_format: JSON, expected: JSON
) -> None:
    result = await provider.chat(
        ChatCall(model="gpt-4o-mini", body={**user("give me json"), "response_format": response_format})
    )
    assert server.last_request.json["response_format"] == response_format
    assert orjson.loads(result.body["choices"][0]["message"]["content"]) == expected


# --- streams ---------------------------------------------------------------------------------------


async def test_stream_yields_chunks_in_order_and_asks_for_usage(
    server: OpenAIServer, provider: Provider
) -> None:
    body = {**user("tell me a story"), "stream_options": {"include_usage": False}}
    chunks = await collect(provider, ChatCall(model="gpt-4o-mini", body=body))

    sent = server.last_request.json
    assert sent["stream"] is True
    assert sent["model"] == "gpt-4o-mini"
    assert sent["stream_options"] == {"include_usage": True}  # always: traces and cost need usage
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [
        c["choices"][0]["delta"]["content"]
        for c in chunks[1:]
        if c["choices"] and c["choices"][0]["delta"].get("content")
    ]
    assert contents == ["Echo: ", "tell ", "me ", "a ", "story"]
    assert text_of(chunks) == "Echo: tell me a story"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == []
    assert Usage.from_openai(chunks[-1]["usage"]) == Usage(prompt_tokens=4, completion_tokens=5)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


async def test_stream_tool_call_arguments_arrive_in_deltas(provider: Provider) -> None:
    body = {**user("Weather in Oslo? Call get_weather."), "tools": [WEATHER_TOOL]}
    chunks = await collect(provider, ChatCall(model="gpt-4o", body=body))

    deltas = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert deltas[0]["index"] == 0
    assert deltas[0]["id"].startswith("call_")
    assert deltas[0]["function"]["name"] == "get_weather"
    argument_parts = [d["function"]["arguments"] for d in deltas[1:]]
    assert len(argument_parts) >= 2
    assert all(d["index"] == 0 for d in deltas)
    arguments = orjson.loads("".join(argument_parts))
    assert arguments == {"city": "Weather in Oslo? Call get_weather.", "unit": "celsius"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_without_done_but_finished_completes(provider: Provider) -> None:
    chunks = await collect(provider, ChatCall(model="no-done", body=user("almost done")))
    assert text_of(chunks) == "Echo: almost done"
    assert chunks[-1]["usage"]["total_tokens"] == 2 + 3


async def test_stream_broken_midway_is_a_bad_response(provider: Provider) -> None:
    received: list[JSON] = []
    with pytest.raises(ProviderBadResponse) as info:
        await drain(provider, ChatCall(model="broken-stream", body=user("this will break")), into=received)
    assert text_of(received) == "Echo: "  # what came before the break was passed on
    assert info.value.provider == "up"
    assert info.value.retryable


async def test_stream_events_split_across_tcp_writes(provider: Provider) -> None:
    chunks = await collect(provider, ChatCall(model="fragmented", body=user("in small pieces")))
    assert text_of(chunks) == "Echo: in small pieces"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("model", ["stream-error", "bad-json", "huge-event"])
async def test_stream_error_event_or_malformed_event_is_a_bad_response(
    provider: Provider, model: str
) -> None:
    with pytest.raises(ProviderBadResponse):
        await collect(provider, ChatCall(model=model, body=user("hello")))


async def test_stream_closed_early_releases_the_connection(server: OpenAIServer, provider: Provider) -> None:
    stream = cast(
        AsyncGenerator[JSON, None], provider.stream(ChatCall(model="gpt-4o", body=user("a b c d e")))
    )
    first = await anext(stream)
    await stream.aclose()
    assert first["choices"][0]["delta"]["role"] == "assistant"
    result = await provider.chat(ChatCall(model="gpt-4o", body=user("still fine")))
    assert result.body["choices"][0]["message"]["content"] == "Echo: still fine"


# --- embeddings, models, health --------------------------------------------------------------------


async def test_embeddings_are_forwarded_and_returned_in_input_order(
    server: OpenAIServer, provider: Provider
) -> None:
    inputs = ["alpha", "beta gamma", "delta"]
    result = await provider.embed(EmbedCall(model="text-embedding-3-small", inputs=inputs, dimensions=4))
    assert server.last_request.path == "/v1/embeddings"
    assert server.last_request.json == {
        "model": "text-embedding-3-small",
        "input": inputs,
        "encoding_format": "float",
        "dimensions": 4,
    }
    assert result.vectors == [embedding_vector(text, 4) for text in inputs]
    assert result.usage == Usage(prompt_tokens=4)

    # The upstream may list items out of order: the adapter sorts them by "index".
    shuffled = await provider.embed(EmbedCall(model="reversed", inputs=inputs))
    assert shuffled.vectors == [embedding_vector(text, server.embedding_dimensions) for text in inputs]
    assert shuffled.vectors[0] != shuffled.vectors[-1]


async def test_list_models_and_health(server: OpenAIServer, provider: Provider) -> None:
    assert await provider.list_models() == list(DEFAULT_MODELS)
    assert (server.last_request.method, server.last_request.path) == ("GET", "/v1/models")
    assert await provider.health() is True


async def test_health_is_false_when_the_upstream_is_down_or_refuses_the_key(
    server: OpenAIServer, refused_url: str
) -> None:
    for adapter in (make_provider(refused_url, "sk-any"), make_provider(server.base_url, "sk-wrong")):
        try:
            assert await adapter.health() is False
        finally:
            await adapter.aclose()
    assert server.last_request.headers["authorization"] == "Bearer sk-wrong"


# --- errors ----------------------------------------------------------------------------------------


async def call_once(provider: Provider, mode: str, call: ChatCall) -> None:
    if mode == "chat":
        await provider.chat(call)
    else:
        await collect(provider, call)


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.parametrize(
    ("model", "error", "retryable", "retry_after"),
    [
        ("fail-429", ProviderRateLimited, True, 2.0),
        ("fail-500", ProviderError, True, None),
        ("fail-503", ProviderUnavailable, True, 2.0),
        ("fail-400", ProviderRejected, False, None),
        ("fail-404", ProviderRejected, False, None),
    ],
)
async def test_upstream_status_is_mapped(
    provider: Provider,
    mode: str,
    model: str,
    error: type[ProviderError],
    retryable: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(ProviderError) as info:
        await call_once(provider, mode, ChatCall(model=model, body=user("hello")))
    assert type(info.value) is error
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after
    assert info.value.upstream_status == int(model.removeprefix("fail-"))
    assert info.value.provider == "up"
    assert "Injected failure" in info.value.message  # the upstream's own message is kept


async def test_context_overflow_is_rejected_with_its_code(provider: Provider) -> None:
    with pytest.raises(ProviderRejected) as info:
        await provider.chat(ChatCall(model="context-overflow", body=user("too long")))
    assert info.value.code == "context_length_exceeded"


async def test_wrong_key_is_rejected(server: OpenAIServer) -> None:
    provider = make_provider(server.base_url, "sk-wrong")
    try:
        with pytest.raises(ProviderRejected) as info:
            await provider.chat(ChatCall(model="gpt-4o", body=user("hello")))
    finally:
        await provider.aclose()
    assert info.value.upstream_status == 401
    assert "Incorrect API key" in info.value.message


@pytest.mark.parametrize(("mode", "model"), [("chat", "slow"), ("stream", "slow"), ("stream", "slow-stream")])
async def test_timeout(provider: Provider, mode: str, model: str) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await call_once(provider, mode, ChatCall(model=model, body=user("hello"), timeout=0.3))
    assert time.monotonic() - started < 2.0  # the server would have answered after 3 s


@pytest.mark.parametrize("mode", ["chat", "stream"])
async def test_connection_refused_is_unavailable(refused_url: str, mode: str) -> None:
    provider = make_provider(refused_url, "sk-any")
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await call_once(provider, mode, ChatCall(model="gpt-4o", body=user("hello")))
    finally:
        await provider.aclose()
    assert info.value.retryable


async def test_invalid_json_is_a_bad_response(provider: Provider) -> None:
    with pytest.raises(ProviderBadResponse) as info:
        await provider.chat(ChatCall(model="bad-json", body=user("hello")))
    assert info.value.upstream_status == 200


async def test_the_adapter_recovers_after_failures(server: OpenAIServer, provider: Provider) -> None:
    server.fail_next(503, times=2, retry_after=0.5)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as info:
            await provider.chat(ChatCall(model="gpt-4o", body=user("retry me")))
        assert info.value.retry_after == 0.5
    result = await provider.chat(ChatCall(model="gpt-4o", body=user("retry me")))
    assert result.body["choices"][0]["message"]["content"] == "Echo: retry me"
    assert len(server.requests_to("/chat/completions")) == 3


# --- Azure OpenAI and an out-of-process upstream ---------------------------------------------------


async def test_azure_mode_sends_api_key_header_and_api_version(server: OpenAIServer) -> None:
    provider = make_provider(
        server.azure_base_url("prod-gpt4o"), server.api_key, azure=True, api_version="2024-10-21"
    )
    try:
        result = await provider.chat(ChatCall(model="gpt-4o", body=user("hi azure")))
        chunks = await collect(provider, ChatCall(model="gpt-4o", body=user("hi azure")))
        embedded = await provider.embed(EmbedCall(model="text-embedding-3-small", inputs=["x"]))
    finally:
        await provider.aclose()

    assert result.body["choices"][0]["message"]["content"] == "Echo: hi azure"
    assert text_of(chunks) == "Echo: hi azure"
    assert len(embedded.vectors) == 1
    assert [r.path for r in server.requests] == [
        "/openai/deployments/prod-gpt4o/chat/completions",
        "/openai/deployments/prod-gpt4o/chat/completions",
        "/openai/deployments/prod-gpt4o/embeddings",
    ]
    for sent in server.requests:
        assert sent.query == {"api-version": "2024-10-21"}
        assert sent.headers["api-key"] == server.api_key
        assert "authorization" not in sent.headers


async def test_azure_health(server: OpenAIServer) -> None:
    provider = make_provider(
        server.azure_base_url("prod-gpt4o"), server.api_key, azure=True, api_version="2024-10-21"
    )
    try:
        assert await provider.health() is True
    finally:
        await provider.aclose()


async def test_out_of_process_server() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.servers.openai_server",
        "--port",
        "0",
        "--api-key",
        "sk-sub",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        base_url = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()
        assert base_url.startswith("http://127.0.0.1:")
        provider = make_provider(base_url, "sk-sub")
        try:
            assert await provider.health() is True
            result = await provider.chat(ChatCall(model="gpt-4o", body=user("from afar")))
        finally:
            await provider.aclose()
        assert result.body["choices"][0]["message"]["content"] == "Echo: from afar"
    finally:
        process.terminate()
        await process.communicate()
    assert process.returncode == 0
