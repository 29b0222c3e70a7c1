"""Scripted replies and injected faults, chosen by config: for tests of the gateway's own logic and
for outage drills. It never stands in for the component under test.

    providers:
      flaky:
        type: fake
        reply: "Hello!"          # or echo: true to answer with the last user message
        replies: ["a", "b"]      # one per call in order, the last one repeating (repair retries)
        tool_calls: [{name: search, arguments: '{"q": "x"}'}]   # answer with these calls
        chunk_chars: 3           # stream in pieces of this many characters (default: by word)
        latency_ms: 50           # before the answer (or the first chunk)
        chunk_delay_ms: 5        # between stream chunks
        fault: http_503          # none | http_429 | http_500 | http_503 | timeout | connection_error
                                 # | broken_stream | stall_stream | malformed_json | context_length
                                 # | content_policy | no_done (finishes, then neither usage nor [DONE])
        finish_reason: stop      # or length, content_filter (a refusal)
        logprob: -0.2            # per-token logprob reported when the request asks for logprobs

    A trailing assistant message is continued (prefill): the reply is the rest of the script after it.
        fault_rate: 0.5          # share of calls that fail
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.core.errors import (
    ProviderBadResponse,
    ProviderUnavailable,
    provider_error_for_status,
)
from pilothouse.core.tokens import content_text
from pilothouse.core.types import JSON, ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult, Usage

Fault = Literal[
    "none",
    "http_429",
    "http_500",
    "http_503",
    "timeout",
    "connection_error",
    "broken_stream",
    "stall_stream",
    "no_done",
    "context_length",
    "content_policy",
    "malformed_json",
]


class FakeToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    arguments: str = "{}"


class FakeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reply: str = "This is a scripted reply from the fake provider."
    echo: bool = False
    replies: list[str] | None = Field(None, min_length=1)
    tool_calls: list[FakeToolCall] = Field(default_factory=list)
    chunk_chars: int | None = Field(None, ge=1)
    latency_ms: float = Field(0.0, ge=0)
    chunk_delay_ms: float = Field(0.0, ge=0)
    fault: Fault = "none"
    fault_rate: float = Field(1.0, ge=0, le=1)
    fault_after_chunks: int = Field(2, ge=0, description="broken/stall_stream: chunks sent before the break")
    finish_reason: Literal["stop", "length", "content_filter"] = "stop"
    logprob: float | None = Field(None, le=0)
    retry_after: float | None = Field(None, ge=0)
    models: list[str] = Field(default_factory=lambda: ["fake-model"])
    embedding_dimensions: int = Field(8, gt=0)
    seed: int | None = None


def _count_tokens(text: str) -> int:
    return len(text.split())


class FakeProvider:
    Options = FakeOptions

    def __init__(self, name: str, options: FakeOptions) -> None:
        self.name = name
        self.options = options
        self._random = random.Random(options.seed)
        self.calls = 0

    # --- behaviour ----------------------------------------------------------------------------
    def _reply_for(self, body: JSON) -> str:
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        replies = self.options.replies
        script = replies[min(self.calls, len(replies)) - 1] if replies else self.options.reply
        if self.options.echo:
            users = [m for m in messages if m.get("role") == "user"]
            script = content_text(users[-1].get("content")) if users else ""
        if messages and messages[-1].get("role") == "assistant":  # prefill: continue the answer
            prefix = content_text(messages[-1].get("content"))
            if script.startswith(prefix):
                return script[len(prefix) :]
        return script

    def _prompt_tokens(self, body: JSON) -> int:
        return sum(
            _count_tokens(content_text(m.get("content")))
            for m in body.get("messages", [])
            if isinstance(m, dict)
        )

    def _faulty(self) -> bool:
        return self.options.fault != "none" and self._random.random() < self.options.fault_rate

    async def _before_answer(self, call: ChatCall | EmbedCall, *, streaming: bool) -> bool:
        """Sleep the configured latency and raise the configured fault; True if the stream must break."""
        self.calls += 1
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000.0)
        if not self._faulty():
            return False
        fault = self.options.fault
        if fault.startswith("http_"):
            status = int(fault[5:])
            raise provider_error_for_status(
                status,
                f"{self.name}: injected HTTP {status}",
                provider=self.name,
                retry_after=self.options.retry_after,
            )
        if fault == "timeout":
            await asyncio.sleep(3600)  # routing's per-attempt deadline ends this
        if fault == "connection_error":
            raise ProviderUnavailable(f"{self.name}: injected connection error", provider=self.name)
        if fault == "malformed_json":
            raise ProviderBadResponse(
                f"{self.name}: upstream sent invalid JSON (injected)", provider=self.name
            )
        if fault == "context_length":
            raise provider_error_for_status(
                400, "This model's maximum context length is exceeded (injected)", provider=self.name
            )
        if fault == "content_policy":
            raise provider_error_for_status(
                400, "The request was rejected by the content policy (injected)", provider=self.name
            )
        return fault in ("broken_stream", "stall_stream") and streaming

    def _tool_calls(self) -> list[JSON]:
        return [
            {
                "id": f"call_fake_{i}",
                "type": "function",
                "function": {"name": t.name, "arguments": t.arguments},
            }
            for i, t in enumerate(self.options.tool_calls)
        ]

    def _completion(self, call: ChatCall, text: str) -> JSON:
        message: JSON = {"role": "assistant", "content": text}
        finish: str = self.options.finish_reason
        if self.options.tool_calls:
            message = {"role": "assistant", "content": text or None, "tool_calls": self._tool_calls()}
            finish = "tool_calls"
        return {
            "id": "chatcmpl-fake-" + hashlib.sha1(f"{time.time_ns()}".encode()).hexdigest()[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                }
            ],
        }

    # --- protocol -----------------------------------------------------------------------------
    async def chat(self, call: ChatCall) -> ChatResult:
        await self._before_answer(call, streaming=False)  # broken_stream applies to streams only
        text = self._reply_for(call.body)
        usage = Usage(prompt_tokens=self._prompt_tokens(call.body), completion_tokens=_count_tokens(text))
        body = self._completion(call, text)
        if call.body.get("logprobs") and self.options.logprob is not None:
            tokens = [{"token": w, "logprob": self.options.logprob} for w in text.split()]
            body["choices"][0]["logprobs"] = {"content": tokens}
        body["usage"] = usage.to_openai()
        return ChatResult(body=body, usage=usage)

    async def stream(self, call: ChatCall) -> ChunkStream:
        breaks = await self._before_answer(call, streaming=True)
        text = self._reply_for(call.body)
        size = self.options.chunk_chars
        if size:
            pieces = [text[i : i + size] for i in range(0, len(text), size)] or [text]
        else:
            pieces = re.findall(r"\s*\S+", text) or [text]
        base = {
            "id": "chatcmpl-fake-stream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": call.model,
        }
        yield {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
        for i, piece in enumerate(pieces):
            if breaks and i >= self.options.fault_after_chunks:
                if self.options.fault == "stall_stream":
                    await asyncio.sleep(3600)  # routing's idle window ends this
                raise ProviderBadResponse(f"{self.name}: stream broke (injected)", provider=self.name)
            if self.options.chunk_delay_ms:
                await asyncio.sleep(self.options.chunk_delay_ms / 1000.0)
            yield {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for i, tool in enumerate(self._tool_calls()):
            function = tool["function"]
            head = {"index": i, "id": tool["id"], "type": "function", "function": {"name": function["name"]}}
            yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}]}
            args = function["arguments"]
            for j in range(0, len(args), 5):  # arguments arrive in pieces, as real providers send them
                part = {"index": i, "function": {"arguments": args[j : j + 5]}}
                delta = {"tool_calls": [part]}
                yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        usage = Usage(prompt_tokens=self._prompt_tokens(call.body), completion_tokens=_count_tokens(text))
        finish_reason = "tool_calls" if self.options.tool_calls else self.options.finish_reason
        finish = {"index": 0, "delta": {}, "finish_reason": finish_reason}
        yield {**base, "choices": [finish]}
        if self.options.fault == "no_done" and self._faulty():
            await asyncio.sleep(3600)  # finished, but neither usage nor [DONE] nor a closed connection
        yield {**base, "choices": [], "usage": usage.to_openai()}

    async def embed(self, call: EmbedCall) -> EmbedResult:
        await self._before_answer(call, streaming=False)
        dims = call.dimensions or self.options.embedding_dimensions
        vectors = []
        for text in call.inputs:
            digest = hashlib.sha256(text.encode()).digest()
            vectors.append([(digest[i % len(digest)] - 128) / 128.0 for i in range(dims)])
        return EmbedResult(
            vectors=vectors, usage=Usage(prompt_tokens=sum(_count_tokens(t) for t in call.inputs))
        )

    async def list_models(self) -> list[str]:
        return list(self.options.models)

    async def health(self) -> bool:
        return self.options.fault == "none" or self.options.fault_rate < 1.0

    async def aclose(self) -> None:
        return None
