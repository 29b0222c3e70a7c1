"""A stored answer and how it is served again (streams replay it through ``core.completions``).

Entries are bytes (orjson) in every backend, so a hit never shares mutable state with another request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

import orjson

from pilothouse.core.ids import new_id
from pilothouse.core.types import JSON, Usage

ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    completion: JSON  # the ``chat.completion`` body as the client first received it
    cost_usd: Decimal  # what the original answer cost: a hit saves this much
    stored_at: float  # unix seconds

    @property
    def usage(self) -> Usage:
        return Usage.from_openai(self.completion.get("usage"))

    @property
    def model(self) -> str | None:
        model = self.completion.get("model")
        return model if isinstance(model, str) else None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": ENTRY_VERSION,
                "completion": self.completion,
                "cost": str(self.cost_usd),
                "at": self.stored_at,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> CachedAnswer | None:
        """None for anything unreadable (another version, a corrupted value): a miss, never an error."""
        try:
            raw = orjson.loads(data)
            if raw.get("v") != ENTRY_VERSION or not isinstance(raw.get("completion"), dict):
                return None
            return cls(raw["completion"], Decimal(raw["cost"]), float(raw["at"]))
        except (orjson.JSONDecodeError, ArithmeticError, AttributeError, KeyError, TypeError, ValueError):
            return None

    @classmethod
    def from_completion(cls, completion: JSON, cost_usd: Decimal) -> CachedAnswer:
        return cls(completion, cost_usd, time.time())


def _fresh_id() -> str:
    return "chatcmpl-" + new_id().lower()


def as_completion(answer: CachedAnswer) -> JSON:
    """The stored body under a fresh ``id`` and ``created``; ``model`` stays the one that answered."""
    return {**answer.completion, "id": _fresh_id(), "created": int(time.time())}
