"""Internal wire types passed between the gateway, routing and providers.

Bodies stay OpenAI-shaped dicts: the OpenAI adapter forwards them as they are (fast path) and other
adapters translate them. Small dataclasses with slots keep the hot path cheap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> JSON:
        out: JSON = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out

    @classmethod
    def from_openai(cls, data: Any) -> Usage:
        if not isinstance(data, dict):
            return cls()
        details = data.get("prompt_tokens_details") or {}
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=int((details.get("cached_tokens") if isinstance(details, dict) else 0) or 0),
        )


@dataclass(slots=True)
class ChatCall:
    """One request to one deployment. ``body`` is the OpenAI-shaped request minus routing fields."""

    model: str
    body: JSON
    timeout: float | None = None
    metadata: JSON = field(default_factory=dict)


@dataclass(slots=True)
class ChatResult:
    """A complete answer: ``body`` is an OpenAI ``chat.completion`` object."""

    body: JSON
    usage: Usage


# A stream is an async iterator of OpenAI ``chat.completion.chunk`` dicts; the provider attaches
# usage to the last chunk (``usage`` key) whenever it knows it.
ChunkStream = AsyncIterator[JSON]


@dataclass(slots=True)
class EmbedCall:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    timeout: float | None = None


@dataclass(slots=True)
class EmbedResult:
    vectors: list[list[float]]
    usage: Usage
