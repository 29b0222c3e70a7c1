"""The Anthropic adapter against a local Messages API server, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.core.config import ProviderConfig
from pilothouse.core.errors import (
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from pilothouse.core.types import ChatCall, EmbedCall
from pilothouse.providers.anthropic import AnthropicOptions, AnthropicProvider
from pilothouse.providers.registry import build_provider
from tests.servers.anthropic_server import DEFAULT_REPLY, MODELS, WEATHER_INPUT, AnthropicServer, serve

pytestmark = pytest.mark.contract

MODEL = "claude-test-large"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def server() -> AsyncIterator[AnthropicServer]:
    async with serve() as running:
        yield running


@pytest.fixture
async def provider(server: AnthropicServer) -> AsyncIterator[AnthropicProvider]:
    adapter = AnthropicProvider("claude", AnthropicOptions(base_url=server.base_url, api_key="test-key"))
    yield adapter
    await adapter.aclose()


def ask(text: str, **body: Any) -> ChatCall:
    return ChatCall(model=MODEL, body={"messages": [{"role": "user", "content": text}], **body}, timeout=10.0)


async def collect(provider: AnthropicProvider, call: ChatCall) -> list[dict[str, Any]]:
    return [chunk async for chunk in provider.stream(call)]


async def collect_rest(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# --- non-streaming --------------------------------------------------------------------------------


async def test_chat_returns_an_openai_completion(provider: AnthropicProvider) -> None:
    result = await provider.chat(ask("Hi there"))
    body = result.body
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("msg_test_")
    assert body["model"] == MODEL
    assert isinstance(body["created"], int)
    assert body["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": DEFAULT_REPLY}, "finish_reason": "stop"}
    ]
    assert result.usage.prompt_tokens == 2
    assert result.usage.completion_tokens == len(DEFAULT_REPLY.split())
    assert body["usage"] == result.usage.to_openai()


async def test_auth_and_version_headers_are_sent(
    provider: AnthropicProvider, server: AnthropicServer
) -> None:
    await provider.chat(ask("Hi"))
    assert server.last_headers["x-api-key"] == "test-key"
    assert server.last_headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in server.last_headers


async def test_wrong_key_is_rejected(server: AnthropicServer) -> None:
    adapter = AnthropicProvider("claude", AnthropicOptions(base_url=server.base_url, api_key="wrong"))
    try:
        with pytest.raises(ProviderRejected) as info:
            await adapter.chat(ask("Hi"))
    finally:
        await adapter.aclose()
    assert info.value.upstream_status == 401
    assert "x-api-key" in info.value.message


async def test_request_is_translated(provider: AnthropicProvider, server: AnthropicServer) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "system", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "First part."},
        {"role": "user", "content": [{"type": "text", "text": "Second part."}]},
    ]
    body = {
        "messages": messages,
        "max_completion_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "user": "user-42",
    }
    await provider.chat(ChatCall(model=MODEL, body=body))
    sent = server.last_request
    assert sent["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Answer in English."},
    ]
    assert sent["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "First part."}, {"type": "text", "text": "Second part."}],
        }
    ]
    assert sent["model"] == MODEL
    assert sent["max_tokens"] == 64
    assert sent["temperature"] == 0.2
    assert sent["top_p"] == 0.9
    assert sent["stop_sequences"] == ["END"]
    assert sent["metadata"] == {"user_id": "user-42"}
    assert "stream" not in sent


async def test_default_max_tokens(server: AnthropicServer) -> None:
    options = AnthropicOptions(base_url=server.base_url, api_key="test-key", default_max_tokens=333)
    adapter = AnthropicProvider("claude", options)
    try:
        await adapter.chat(ask("Hi", system="ignored"))
    finally:
        await adapter.aclose()
    assert server.last_request["max_tokens"] == 333


async def test_tool_call_round_trip(provider: AnthropicProvider, server: AnthropicServer) -> None:
    first = await provider.chat(
        ask("Please use the weather tool for Paris", tools=[WEATHER_TOOL], tool_choice="required")
    )
    sent = server.last_request
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}

    choice = first.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check the weather."
    [call] = message["tool_calls"]
    assert call["id"] == "toolu_test_01"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == WEATHER_INPUT

    # The caller runs the tool and sends the whole conversation back.
    history = [
        {"role": "user", "content": "Please use the weather tool for Paris"},
        message,
        {"role": "tool", "tool_call_id": call["id"], "content": "18 degrees and sunny"},
    ]
    second = await provider.chat(ChatCall(model=MODEL, body={"messages": history, "tools": [WEATHER_TOOL]}))
    sent = server.last_request
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check the weather."},
            {"type": "tool_use", "id": "toolu_test_01", "name": "get_weather", "input": WEATHER_INPUT},
        ],
    }
    assert sent["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_test_01", "content": "18 degrees and sunny"}
        ],
    }
    assert "tool_choice" not in sent
    assert second.body["choices"][0]["message"]["content"] == "The tool said: 18 degrees and sunny"
    assert second.body["choices"][0]["finish_reason"] == "stop"


async def test_named_tool_choice(provider: AnthropicProvider, server: AnthropicServer) -> None:
    choice = {"type": "function", "function": {"name": "get_weather"}}
    await provider.chat(ask("use the weather tool", tools=[WEATHER_TOOL], tool_choice=choice))
    assert server.last_request["tool_choice"] == {"type": "tool", "name": "get_weather"}


async def test_prefill_is_sent_as_the_last_assistant_turn(
    provider: AnthropicProvider, server: AnthropicServer
) -> None:
    messages = [{"role": "user", "content": "Give me JSON"}, {"role": "assistant", "content": "{ "}]
    await provider.chat(ChatCall(model=MODEL, body={"messages": messages}))
    assert server.last_request["messages"][-1] == {"role": "assistant", "content": "{"}


@pytest.mark.parametrize(
    ("prompt", "finish_reason"),
    [("max tokens please", "length"), ("stop sequence please", "stop"), ("refuse this", "content_filter")],
)
async def test_stop_reasons_map_to_finish_reasons(
    provider: AnthropicProvider, prompt: str, finish_reason: str
) -> None:
    result = await provider.chat(ask(prompt, stop=["END"]))
    assert result.body["choices"][0]["finish_reason"] == finish_reason
    chunks = await collect(provider, ask(prompt, stop=["END"]))
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == finish_reason


async def test_cache_tokens_count_as_prompt_tokens(provider: AnthropicProvider) -> None:
    result = await provider.chat(ask("cached question"))
    assert result.usage.prompt_tokens == 2 + 20 + 100
    assert result.usage.cached_tokens == 100
    assert result.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 100}


# --- streaming ------------------------------------------------------------------------------------


async def test_stream_text_with_usage_last(provider: AnthropicProvider, server: AnthropicServer) -> None:
    chunks = await collect(provider, ask("Hi there"))
    assert server.last_request["stream"] is True
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"].startswith("msg_test_") for c in chunks)
    assert content_of(chunks) == DEFAULT_REPLY
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": len(DEFAULT_REPLY.split()),
        "total_tokens": 2 + len(DEFAULT_REPLY.split()),
    }


async def test_stream_tool_use_arguments_join_into_json(provider: AnthropicProvider) -> None:
    chunks = await collect(provider, ask("use the weather tool", tools=[WEATHER_TOOL]))
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert deltas[0] == {
        "index": 0,
        "id": "toolu_test_01",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert len(deltas) > 2  # the server splits the input over several input_json_delta events
    assert all(d["index"] == 0 for d in deltas)
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert json.loads(arguments) == WEATHER_INPUT
    assert content_of(chunks) == "Let me check the weather."
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] > 0


async def test_stream_cut_before_message_stop_is_an_error(provider: AnthropicProvider) -> None:
    stream = provider.stream(ask("cut the stream now"))
    received = [await anext(stream), await anext(stream)]
    assert content_of(received)  # text arrived before the cut: a truncated answer, never a success
    with pytest.raises(ProviderBadResponse, match="message_stop"):
        await collect_rest(stream)


async def test_stream_error_event_raises(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderUnavailable, match="Overloaded"):
        await collect(provider, ask("error mid-stream"))


# --- errors ---------------------------------------------------------------------------------------


async def test_429_is_rate_limited_with_retry_after(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderRateLimited) as info:
        await provider.chat(ask("hit the rate limit"))
    assert info.value.retry_after == 7.0
    assert info.value.upstream_status == 429
    assert info.value.provider == "claude"
    assert "rate limit" in info.value.message
    with pytest.raises(ProviderRateLimited):
        await collect(provider, ask("hit the rate limit"))


async def test_529_overloaded_is_unavailable(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderUnavailable) as info:
        await provider.chat(ask("you are overloaded"))
    assert info.value.upstream_status == 529
    assert info.value.retryable
    with pytest.raises(ProviderUnavailable):
        await collect(provider, ask("you are overloaded"))


async def test_400_is_rejected(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderRejected) as info:
        await provider.chat(ask("send an invalid request"))
    assert info.value.upstream_status == 400
    assert not info.value.retryable
    assert "asked for a 400" in info.value.message


async def test_untranslatable_request_is_rejected_before_sending(
    provider: AnthropicProvider, server: AnthropicServer
) -> None:
    with pytest.raises(ProviderRejected, match="n must be 1"):
        await provider.chat(ask("Hi", n=2))
    assert server.requests == []


async def test_embed_is_not_supported(provider: AnthropicProvider) -> None:
    with pytest.raises(ProviderRejected, match="no embeddings"):
        await provider.embed(EmbedCall(model=MODEL, inputs=["hello"]))


# --- models, health, registry ---------------------------------------------------------------------


async def test_list_models_and_health(provider: AnthropicProvider) -> None:
    assert await provider.list_models() == MODELS
    assert await provider.health() is True


async def test_health_is_false_when_unreachable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = AnthropicProvider(
        "claude", AnthropicOptions(base_url=f"http://127.0.0.1:{port}", connect_timeout=2)
    )
    try:
        assert await adapter.health() is False
    finally:
        await adapter.aclose()


async def test_built_from_config_with_an_env_secret(
    server: AnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", "test-key")
    config = ProviderConfig(type="anthropic", base_url=server.base_url, api_key="env:ANTHROPIC_TEST_KEY")
    adapter = build_provider("claude", config)
    try:
        assert isinstance(adapter, AnthropicProvider)
        result = await adapter.chat(ask("Hi"))
    finally:
        await adapter.aclose()
    assert result.body["choices"][0]["message"]["content"] == DEFAULT_REPLY
