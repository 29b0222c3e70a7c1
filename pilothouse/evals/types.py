"""What scorers see and return: the case, the target's output, a way back to models, and a ``Score``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from pilothouse.core.eval_records import EvalTarget
from pilothouse.evals.dataset import Case


@dataclass(frozen=True)
class Score:
    """``value`` in [0, 1], higher is better; ``passed`` for pass/fail verdicts (None: no verdict)."""

    value: float
    passed: bool | None = None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.value, int | float) and math.isfinite(self.value) and 0 <= self.value <= 1):
            raise ValueError(f"a score must be a number in [0, 1], got {self.value!r}")


def verdict(ok: bool, reason: str, **details: Any) -> Score:
    """A pass/fail score: 1 or 0."""
    return Score(1.0 if ok else 0.0, ok, reason, dict(details))


@dataclass(frozen=True)
class ChatReply:
    """One gateway answer as the harness keeps it."""

    status: int
    body: dict[str, Any]
    trace_id: str | None
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def message(self) -> dict[str, Any]:
        choices = self.body.get("choices") or [{}]
        message = choices[0].get("message") or {}
        return message if isinstance(message, dict) else {}

    @property
    def text(self) -> str:
        content = self.message.get("content")
        if isinstance(content, list):  # content parts
            return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return content if isinstance(content, str) else ""


class ModelAccess(Protocol):
    """The gateway, for scorers that call models themselves (judge, embedding similarity)."""

    async def chat(self, body: dict[str, Any]) -> ChatReply: ...

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]: ...


@dataclass(frozen=True)
class Output:
    """The target's answer to one case, as stored on the result (``Output.from_stored``)."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    served_model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: Decimal | None = None  # None: the price of the serving model is unknown here
    trace_id: str | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool_calls": self.tool_calls,
            "finish_reason": self.finish_reason,
            "served_model": self.served_model,
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
            "cost_usd": None if self.cost_usd is None else str(self.cost_usd),
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any], *, latency_ms: float, trace_id: str | None) -> Output:
        usage = data.get("usage") or {}
        cost = data.get("cost_usd")
        return cls(
            text=data.get("text") or "",
            tool_calls=list(data.get("tool_calls") or []),
            finish_reason=data.get("finish_reason"),
            served_model=data.get("served_model"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_ms=latency_ms,
            cost_usd=None if cost is None else Decimal(cost),
            trace_id=trace_id,
        )


@dataclass(frozen=True)
class ScoreContext:
    case: Case
    output: Output
    target: EvalTarget
    models: ModelAccess | None = None  # None where no gateway is at hand (unit tests of pure scorers)

    def require_models(self) -> ModelAccess:
        if self.models is None:
            raise RuntimeError("this scorer calls models through the gateway, and none is connected")
        return self.models
