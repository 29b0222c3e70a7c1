"""What may be looked up and what may be stored.

Temperature: only an answer the model would give again is cached. ``temperature: 0`` qualifies; an
absent temperature does not, because OpenAI's default is 1.0 (sampled), and a cache that answered
unpinned requests would silently turn sampling off. ``nonzero_temperature: true`` on the route opts
into caching sampled answers (one sample then serves every identical request until the TTL).

``n > 1`` is never cached: a client asking for several samples wants different answers.

``Cache-Control`` on the request: ``no-cache`` skips the lookup (the fresh answer still refreshes the
entry), ``no-store`` keeps the answer out of the cache; both together bypass the cache entirely.

Stored answers: one choice that ended with ``stop``, ``tool_calls`` or ``length``, with some content,
and no ``guard*`` flag on the trace. ``length`` (truncated at ``max_tokens``) is stored because
``max_tokens`` is part of the key: the same request would get the same truncated answer from the
model, so the cache returns exactly what the provider would. ``content_filter`` and any finish reason
the gateway uses for an interrupted stream are never stored, nor are errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pilothouse.core.traffic import CacheConfig
from pilothouse.core.types import JSON

STORABLE_FINISH = frozenset({"stop", "length", "tool_calls", "function_call"})
GUARD_FLAG_PREFIX = "guard"


@dataclass(frozen=True, slots=True)
class Decision:
    lookup: bool
    store: bool
    reason: str | None = None  # why the lookup or the store is off

    @property
    def bypass(self) -> bool:
        return not self.lookup and not self.store


def cache_directives(header: str | None) -> frozenset[str]:
    if not header:
        return frozenset()
    return frozenset(part.strip().lower() for part in header.split(",") if part.strip())


def decide(body: JSON, config: CacheConfig, cache_control: str | None = None) -> Decision:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        return Decision(False, False, "n>1")
    temperature = body.get("temperature")
    if temperature != 0 and not config.nonzero_temperature:
        return Decision(False, False, "temperature")
    directives = cache_directives(cache_control)
    lookup = "no-cache" not in directives
    store = "no-store" not in directives
    if lookup and store:
        return Decision(True, True)
    return Decision(lookup, store, "no-cache" if not lookup else "no-store")


def unstorable_reason(completion: JSON, flags: Iterable[str]) -> str | None:
    """Why this answer must not be stored, or None if it may be."""
    if any(flag.startswith(GUARD_FLAG_PREFIX) for flag in flags):
        return "guard_flagged"
    choices = completion.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return "choices"
    choice = choices[0]
    if choice.get("finish_reason") not in STORABLE_FINISH:
        return "finish_reason"
    message = choice.get("message")
    if not isinstance(message, dict) or not (message.get("content") or message.get("tool_calls")):
        return "empty"
    return None
