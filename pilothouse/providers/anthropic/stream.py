"""Translate Messages API stream events into OpenAI ``chat.completion.chunk`` dicts.

Event order (Anthropic): ``message_start``, then per content block ``content_block_start``,
``content_block_delta``..., ``content_block_stop``; then ``message_delta`` (stop reason, output
usage) and ``message_stop``. ``ping`` may come anywhere; an ``error`` event ends the stream.
Unknown events are skipped, as Anthropic asks clients to do for forward compatibility.
"""

from __future__ import annotations

import time
from typing import Any

from pilothouse.core.errors import (
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
)
from pilothouse.core.types import JSON, Usage
from pilothouse.providers.anthropic.convert import finish_reason, tool_call, usage_from


class StreamTranslator:
    """Feed each decoded event to ``feed``; it returns the chunks to send (often none).

    ``finished`` turns true on ``message_stop``: a stream that ends before that was truncated.
    """

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.id = ""
        self.created = int(time.time())
        self.finished = False
        self._started = False
        self._finish_sent = False
        self._usage: JSON = {}  # raw Anthropic usage, updated by message_start and message_delta
        self._tool_index: dict[int, int] = {}  # content block index -> OpenAI tool_calls index

    @property
    def usage(self) -> Usage:
        return usage_from(self._usage)

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "error":
            raise self._error(event.get("error"))
        if kind == "message_start":
            message = event.get("message")
            if not isinstance(message, dict):
                message = {}
            self.id = str(message.get("id") or "")
            self.model = str(message.get("model") or self.model)
            self._update_usage(message.get("usage"))
            self._started = True
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind not in ("content_block_start", "content_block_delta", "message_delta", "message_stop"):
            return []  # ping, content_block_stop, and event types added after this adapter was written
        if not self._started:
            raise ProviderBadResponse(
                f"{self.provider}: stream event {kind} before message_start", provider=self.provider
            )
        if kind == "content_block_start":
            return self._on_block_start(event)
        if kind == "content_block_delta":
            return self._on_block_delta(event)
        if kind == "message_delta":
            return self._on_message_delta(event)
        return self._on_message_stop()

    # --- handlers -------------------------------------------------------------------------------
    def _on_block_start(self, event: JSON) -> list[JSON]:
        block = event.get("content_block")
        if not isinstance(block, dict):
            return []
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") == "tool_use":
            index = len(self._tool_index)
            self._tool_index[int(event.get("index") or 0)] = index
            return [self._chunk({"tool_calls": [{"index": index, **tool_call(block, "")}]})]
        return []  # thinking and server-tool blocks have no OpenAI chunk field

    def _on_block_delta(self, event: JSON) -> list[JSON]:
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tool_index.get(int(event.get("index") or 0))
            if index is None:
                raise ProviderBadResponse(
                    f"{self.provider}: tool input for a block that is not a tool_use", provider=self.provider
                )
            return [
                self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": delta["partial_json"]}}]}
                )
            ]
        return []

    def _on_message_delta(self, event: JSON) -> list[JSON]:
        self._update_usage(event.get("usage"))
        delta = event.get("delta")
        if not isinstance(delta, dict):
            delta = {}
        self._finish_sent = True
        return [self._chunk({}, finish_reason(delta.get("stop_reason")))]

    def _on_message_stop(self) -> list[JSON]:
        self.finished = True
        out = [] if self._finish_sent else [self._chunk({}, "stop")]
        usage_chunk = self._chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = self.usage.to_openai()
        return [*out, usage_chunk]

    # --- helpers ---------------------------------------------------------------------------------
    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _update_usage(self, usage: Any) -> None:
        # message_delta counts are cumulative, so later values replace earlier ones.
        if isinstance(usage, dict):
            self._usage.update({k: v for k, v in usage.items() if v is not None})

    def _error(self, error: Any) -> ProviderError:
        kind = error.get("type") if isinstance(error, dict) else None
        detail = error.get("message") if isinstance(error, dict) else None
        message = f"{self.provider}: upstream error mid-stream: {detail or kind or 'unknown'}"
        if kind == "overloaded_error":
            return ProviderUnavailable(message, provider=self.provider, upstream_status=529)
        if kind == "rate_limit_error":
            return ProviderRateLimited(message, provider=self.provider, upstream_status=429)
        return ProviderBadResponse(message, provider=self.provider)
