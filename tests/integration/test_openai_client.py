"""Acceptance: the real ``openai`` client (sync and async) against the gateway, in front of the local
SmolLM2 model and in front of an OpenAI-compatible server reached over real HTTP."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest

from tests.gateway_harness import USER_KEY, Gateway, base_config, running_gateway

pytestmark = pytest.mark.integration

needs_local = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("wordllama") is None,
    reason="needs the 'local' extra",
)
MESSAGES = [{"role": "user", "content": "Name one colour of the rainbow."}]


@pytest.fixture(scope="module")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("local")
    config = base_config(
        tmp,
        providers={"local": {"type": "local", "load_on_start": True}},
        models=[
            {
                "name": "smollm2",
                "provider": "local",
                "upstream": "smollm2-135m-instruct",
                "context_window": 2048,
                "input_price": 0.1,
                "output_price": 0.2,
            },
            {"name": "local-embed", "provider": "local", "upstream": "wordllama", "kind": "embedding"},
        ],
    )
    with running_gateway(config) as gw:
        yield gw


def sync_client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=USER_KEY, max_retries=0)


def async_client(gw: Gateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key=USER_KEY, max_retries=0)


@needs_local
@pytest.mark.local_model
def test_sync_client_against_local_model(local_gateway: Gateway) -> None:
    with sync_client(local_gateway) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="smollm2", messages=MESSAGES, max_tokens=16
        )
        assert raw.headers["x-pilothouse-trace-id"]
        completion = raw.parse()
        assert completion.choices[0].message.content
        assert completion.usage is not None
        assert completion.usage.prompt_tokens > 0
        assert 0 < completion.usage.completion_tokens <= 16

        chunks = list(
            client.chat.completions.create(
                model="smollm2",
                messages=MESSAGES,
                max_tokens=16,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip()
        assert len(chunks) > 2
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens > 0

        models = {m.id for m in client.models.list()}
        assert models == {"smollm2", "local-embed"}

        emb = client.embeddings.create(model="local-embed", input=["a red apple", "a green apple", "tax law"])
        assert [d.index for d in emb.data] == [0, 1, 2]
        assert len(emb.data[0].embedding) == len(emb.data[2].embedding) > 16


@needs_local
@pytest.mark.local_model
async def test_async_client_against_local_model(local_gateway: Gateway) -> None:
    async with async_client(local_gateway) as client:
        completion = await client.chat.completions.create(model="smollm2", messages=MESSAGES, max_tokens=12)
        assert completion.choices[0].message.content
        stream = await client.chat.completions.create(
            model="smollm2",
            messages=MESSAGES,
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.total_tokens > 0
        models = await client.models.list()
        assert {m.id async for m in models} == {"smollm2", "local-embed"}
        emb = await client.embeddings.create(model="local-embed", input="hello")
        assert emb.data[0].embedding


@needs_local
@pytest.mark.local_model
async def test_raw_stream_ends_with_done_and_trace_has_ttft(local_gateway: Gateway) -> None:
    body = {"model": "smollm2", "messages": MESSAGES, "max_tokens": 8, "stream": True}
    async with aiohttp.ClientSession(headers=local_gateway.user_headers) as http:
        async with http.post(local_gateway.base_url + "/v1/chat/completions", json=body) as r:
            raw = (await r.read()).decode()
            trace_id = r.headers["x-pilothouse-trace-id"]
        assert raw.rstrip().endswith("data: [DONE]")
        for _ in range(200):
            async with http.get(
                f"{local_gateway.base_url}/api/traces/{trace_id}", headers=local_gateway.admin_headers
            ) as r:
                if r.status == 200:
                    trace = await r.json()
                    break
        else:
            raise AssertionError("trace not stored")
    assert trace["served_model"] == "smollm2"
    assert trace["ttft_ms"] > 0
    assert trace["completion_tokens"] > 0
    assert trace["cost_usd"] != "0"


# --- the gateway in front of an OpenAI-compatible server over real HTTP ---------------------------


@pytest.fixture(scope="module")
def upstream_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.openai_server", "--port", "0", "--api-key", "sk-up"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        tmp: Path = tmp_path_factory.mktemp("upstream")
        config = base_config(
            tmp,
            providers={"up": {"type": "openai", "base_url": base_url, "api_key": "sk-up"}},
            models=[
                {
                    "name": "gpt",
                    "provider": "up",
                    "upstream": "gpt-4o-mini",
                    "input_price": 0.15,
                    "output_price": 0.6,
                },
                {"name": "limited", "provider": "up", "upstream": "fail-429"},
            ],
        )
        with running_gateway(config) as gw:
            yield gw
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_tool_calls_through_the_gateway(upstream_gateway: Gateway) -> None:
    messages = [{"role": "user", "content": "use the get_weather tool for Paris"}]
    with sync_client(upstream_gateway) as client:
        completion = client.chat.completions.create(model="gpt", messages=messages, tools=[WEATHER_TOOL])
        call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        assert completion.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "get_weather"
        assert "city" in json.loads(call.function.arguments)
        assert completion.model == "gpt"  # the deployment that served it

        stream = client.chat.completions.create(
            model="gpt", messages=messages, tools=[WEATHER_TOOL], stream=True
        )
        name, args, finish = "", "", None
        for chunk in stream:
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    name += delta.function.name or "" if delta.function else ""
                    args += delta.function.arguments or "" if delta.function else ""
                finish = choice.finish_reason or finish
        assert name == "get_weather"
        assert "city" in json.loads(args)
        assert finish == "tool_calls"


def test_response_format_and_upstream_errors_through_the_gateway(upstream_gateway: Gateway) -> None:
    with sync_client(upstream_gateway) as client:
        completion = client.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
        )
        assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)
        with pytest.raises(openai.RateLimitError) as exc:
            client.chat.completions.create(model="limited", messages=[{"role": "user", "content": "hi"}])
        assert exc.value.response.headers["retry-after"]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                base_url=upstream_gateway.base_url + "/v1", api_key="bad", max_retries=0
            ).models.list()
