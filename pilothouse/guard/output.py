"""Output checks: a JSON answer against a JSON Schema (with the one repair turn), refusals, citations.

JSON answers: a single Markdown code fence around the *whole* answer (```` ```json ... ``` ````) is
tolerated, because models fence JSON often, even in JSON mode, and the content is unambiguous; the
gateway then returns :func:`clean_json_answer` (the JSON without the fence) to the client. Prose
around a fenced block is not JSON: that answer fails and goes to the repair turn. ``NaN`` and
``Infinity`` are not JSON and fail too. JSON Schema ``format`` is an annotation, not checked (as
the specification's default; checking would depend on which optional packages are installed), and
``$ref`` resolves only inside the schema: a remote reference is never fetched.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pilothouse.core.json_schema import (
    canonical,
    check_schema,
    compiled_validator,
    parse_json,
    schema_errors,
)
from pilothouse.guard.types import Finding

__all__ = [
    "check_schema",
    "clean_json_answer",
    "compiled_validator",
    "detect_refusal",
    "missing_citations",
    "parse_json",
    "repair_messages",
    "schema_errors",
    "schema_of",
    "validate_json_answer",
]

_JSON = dict[str, Any]

# --- schemas ----------------------------------------------------------------------------------------


def schema_of(response_format: Any, configured: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON Schema an answer must satisfy: the policy's ``configured`` schema if any; else the
    request's ``response_format`` (``json_schema`` -> its schema, ``{}`` when it gives none;
    ``json_object`` -> ``{"type": "object"}``); else ``None`` (no JSON required).

    ``ValueError`` when ``response_format`` names a schema that is not a JSON object.
    """
    if configured is not None:
        return configured
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind != "json_schema":
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if schema is None:
        return {}  # OpenAI makes the schema optional: any JSON then
    if not isinstance(schema, dict):
        raise ValueError("response_format.json_schema.schema must be a JSON object")
    return schema


# --- validation -----------------------------------------------------------------------------------

_FENCE = re.compile(r"\A\s*```[ \t]*(?:json)?[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL | re.IGNORECASE)


def clean_json_answer(text: str) -> str:
    """The answer without a Markdown code fence wrapping all of it (then also trimmed); any other
    answer unchanged."""
    match = _FENCE.match(text)
    if match is None or "```" in match.group(1):
        return text
    return match.group(1).strip()


def validate_json_answer(text: str | None, schema: dict[str, Any] | None) -> str | None:
    """``None`` when the answer (after :func:`clean_json_answer`) is JSON valid against ``schema``
    (``None``: any JSON), else a short error for the model and the client, such as
    ``not valid JSON: Expecting ',' delimiter at line 1 column 18`` or
    ``$.items[0].price: 'abc' is not of type 'number'``. ``ValueError`` for an invalid schema."""
    if text is None or not text.strip():
        return "the answer is empty: expected JSON"
    value, error = parse_json(clean_json_answer(text))
    if error is not None:
        return error
    return None if schema is None else schema_errors(value, schema)


def repair_messages(
    messages: list[_JSON], answer: str, error: str, *, schema: dict[str, Any] | None = None
) -> list[_JSON]:
    """The conversation for the one repair retry: the original messages, the invalid answer, and a
    user turn stating the error and asking for only the corrected JSON. Pass ``schema`` when it came
    from the policy rather than the request's ``response_format``: the model has not seen it."""
    ask = f"Your previous answer is not valid: {error}\n"
    if schema is not None:
        ask += f"It must be JSON valid against this JSON Schema: {canonical(schema)}\n"
    ask += "Reply again with only the corrected JSON: no explanation and no Markdown code fence."
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": ask}]


# --- refusals and citations ------------------------------------------------------------------------

# Tuned for precision: each phrase says "I will not do this" outright. (The eval refusal scorer,
# pilothouse.evals.scorers.text, casts a wider net because a missed refusal spoils a score there.)
# Apostrophes are straightened first; only the opening of the answer is read, where refusals are.
_CANT = r"(?:can't|cannot|can not)"
_UNABLE = r"(?:am unable|'m unable|am not able|'m not able)"
REFUSAL_PATTERNS: tuple[tuple[str, float], ...] = (
    (rf"\bI(?:'m| am) (?:so |very |really )?sorry,? but I (?:{_CANT}|won't|will not|{_UNABLE})\b", 0.95),
    (
        rf"\bI (?:{_CANT}|won't|will not) (?:help|assist)(?: you)? with"
        r" (?:that|this|your request|the request)\b",
        0.95,
    ),
    (rf"\bI (?:{_CANT}|won't|will not|{_UNABLE} to) (?:assist|comply|fulfill|fulfil)\b", 0.9),
    (r"\bI must (?:respectfully )?decline\b", 0.9),
    (
        r"\b(?:this|that|your) request (?:violates|goes against|is against) (?:my|our|the|OpenAI's)"
        r" (?:\w+ )?(?:guidelines|policies|policy)\b",
        0.9,
    ),
    (rf"\bI {_UNABLE} to (?:provide|share|disclose|help with|give)\b", 0.8),
    (
        rf"\bI {_CANT} (?:provide|share|disclose|give you|generate|create|write) (?:that|this|any|such|the"
        r" requested|information|instructions|content|details|assistance|help)\b",
        0.85,
    ),
    (
        r"\bI(?:'m| am) not (?:able|allowed|permitted) to (?:help|assist|provide|share|disclose|discuss)\b",
        0.85,
    ),
    (r"\bI (?:won't|will not) be able to (?:help|assist|provide)\b", 0.85),
    (r"\bAs an AI(?: language model| model| assistant)?, I\b", 0.8),
)
_REFUSALS = tuple((re.compile(p, re.IGNORECASE), score) for p, score in REFUSAL_PATTERNS)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'"})
REFUSAL_WINDOW = 500  # characters read from the start of the answer


def detect_refusal(text: str, *, finish_reason: str | None = None) -> Finding | None:
    """A ``REFUSAL`` finding (kind ``output``) when the answer opens with a refusal, spanning the
    phrase; or the whole answer when the provider ended it with ``finish_reason="content_filter"``.
    The first matching phrase wins (they are listed strongest first)."""
    if finish_reason == "content_filter":
        return Finding("output", "REFUSAL", 0, len(text), 1.0, "finish_reason")
    opening = text[:REFUSAL_WINDOW].translate(_APOSTROPHES)  # one char for one: spans unchanged
    for i, (pattern, score) in enumerate(_REFUSALS):
        match = pattern.search(opening)
        if match is not None:
            return Finding("output", "REFUSAL", match.start(), match.end(), score, f"phrase:{i}")
    return None


@functools.lru_cache(maxsize=64)
def _citation(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"citation pattern {pattern!r} is not a valid regular expression: {exc}") from None


def missing_citations(text: str, pattern: str) -> Finding | None:
    """A ``CITATION_MISSING`` finding over the whole answer when ``pattern`` (such as ``\\[\\d+\\]``)
    occurs nowhere in it. ``ValueError`` for an invalid pattern."""
    if _citation(pattern).search(text) is not None:
        return None
    return Finding("output", "CITATION_MISSING", 0, len(text), 1.0, "pattern")
