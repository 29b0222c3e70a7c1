"""Cascade checks: is the cheaper tier's answer good enough, or must the next tier answer?"""

from __future__ import annotations

import functools
import math
import re

from pilothouse.core.json_schema import parse_json, schema_errors
from pilothouse.core.traffic import CascadeConfig
from pilothouse.core.types import JSON


@functools.lru_cache(maxsize=64)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL)


def mean_logprob(choice: JSON) -> float | None:
    content = (choice.get("logprobs") or {}).get("content") or []
    values = [
        t["logprob"] for t in content if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)
    ]
    return sum(values) / len(values) if values else None


def escalation_reason(config: CascadeConfig, body: JSON) -> str | None:
    """Why this answer is not acceptable (None: accept it)."""
    choices = body.get("choices") or []
    if not choices:
        return "no_choices"
    choice = choices[0]
    message = choice.get("message") or {}
    text: str = message.get("content") or ""
    if config.not_truncated and choice.get("finish_reason") == "length":
        return "truncated"
    if config.non_empty and not text.strip() and not message.get("tool_calls"):
        return "empty"
    if config.json_valid or config.json_schema is not None:
        value, error = parse_json(text)
        if error is not None:
            return "invalid_json"
        if config.json_schema is not None:
            mismatch = schema_errors(value, config.json_schema)
            if mismatch is not None:
                return f"schema_mismatch: {mismatch[:120]}"
    if config.regex is not None and not _pattern(config.regex).search(text):
        return "regex_mismatch"
    if config.min_mean_logprob is not None:
        mean = mean_logprob(choice)
        if mean is not None and not math.isnan(mean) and mean < config.min_mean_logprob:
            return f"low_confidence: mean logprob {mean:.2f}"
    return None
