"""Guards as a library: run a policy's (or the default) text guards over any text.

Used by ``pilothouse guard check|scan``, and meant for the eval harness, red-team suites and RAG
ingestion, which judge text outside a request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pilothouse.core.guarding import InjectionGuardConfig, PIIGuardConfig, SecretsGuardConfig
from pilothouse.guard.messages import texts_of
from pilothouse.guard.policy import GuardPolicy, TextGuard, compile_text_guard
from pilothouse.guard.redact import Redactor
from pilothouse.guard.types import Finding

Direction = Literal["input", "context", "output"]


@dataclass(frozen=True, slots=True)
class GuardHit:
    guard: str
    action: str
    finding: Finding


def default_guards() -> tuple[TextGuard, ...]:
    """Without a policy: every PII and secret entity, and prompt injection at its default threshold."""
    configs = (
        PIIGuardConfig(guard="pii", action="redact"),
        SecretsGuardConfig(guard="secrets", action="redact"),
        InjectionGuardConfig(guard="injection", action="flag"),
    )
    compiled = (compile_text_guard(c) for c in configs)
    return tuple(g for g in compiled if g is not None)


def guards_of(policy: GuardPolicy, direction: Direction) -> tuple[TextGuard, ...]:
    return {"input": policy.input, "context": policy.context, "output": policy.output}[direction]


def check_text(text: str, guards: Sequence[TextGuard]) -> list[GuardHit]:
    return [GuardHit(g.name, g.action, f) for g in guards for f in g.check(text)]


def redacted_text(text: str, guards: Sequence[TextGuard]) -> str:
    """The text as a redacting policy would send it upstream."""
    for guard in guards:
        if guard.action == "redact" and guard.scanner is not None:
            text = Redactor(guard.scanner).redact(text)[0]
    return text


def record_texts(record: Any) -> Iterator[str]:
    """The text in one JSONL record: a string, or an object's text fields or chat messages."""
    if isinstance(record, str):
        yield record
        return
    if not isinstance(record, dict):
        return
    for key in ("text", "input", "prompt", "content", "output", "completion", "response"):
        value = record.get(key)
        if isinstance(value, str):
            yield value
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                yield from texts_of(message)
