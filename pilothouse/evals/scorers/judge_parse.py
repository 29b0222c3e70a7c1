"""Reading a judge model's answer robustly.

Small and local models wrap the JSON in prose or code fences, use other key names, quote numbers,
or give up on JSON halfway. In order: the whole answer as JSON; each balanced ``{...}`` object in it;
then plain-text patterns (``Score: 4``, ``4/5``, ``PASS``). An answer none of these read is reported
as unparsed rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

SCORE_KEYS = ("score", "rating", "grade", "points")
VERDICT_KEYS = ("verdict", "pass", "passed", "result", "decision", "label")
REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification")
PASS_WORDS = {"pass", "passed", "yes", "true", "correct", "acceptable"}
FAIL_WORDS = {"fail", "failed", "no", "false", "incorrect", "unacceptable"}


@dataclass(frozen=True)
class JudgeVerdict:
    value: float  # 0..1: (score - 1) / 4, or 1 / 0 for pass / fail
    passed: bool | None
    reason: str


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every balanced JSON object in ``text``, outermost first, in order of appearance."""
    found: list[dict[str, Any]] = []
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped, end = 0, False, False, -1
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
                continue
            if ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    end = i
                    break
        if end == -1:
            break
        try:
            data = orjson.loads(text[start : end + 1])
        except orjson.JSONDecodeError:
            start = text.find("{", start + 1)  # not JSON from here: try the next brace
            continue
        if isinstance(data, dict):
            found.append(data)
        start = text.find("{", end + 1)
    return found


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in data.items()}


def _score_value(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        match = re.match(r"\s*([1-5](?:\.\d+)?)\s*(?:/\s*5)?\s*$", raw)
        if not match:
            return None
        number = float(match.group(1))
    else:
        return None
    return number if 1 <= number <= 5 else None


def _verdict_value(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().strip(".!").lower()
        if word in PASS_WORDS:
            return True
        if word in FAIL_WORDS:
            return False
    return None


def _from_object(data: dict[str, Any], mode: str) -> JudgeVerdict | None:
    keys = _lower_keys(data)
    reason = next((str(keys[k]) for k in REASON_KEYS if k in keys), "")
    if mode == "score":
        for key in SCORE_KEYS:
            score = _score_value(keys.get(key))
            if score is not None:
                return JudgeVerdict((score - 1) / 4, None, reason)
        return None
    for key in VERDICT_KEYS:
        passed = _verdict_value(keys.get(key))
        if passed is not None:
            return JudgeVerdict(1.0 if passed else 0.0, passed, reason)
    return None


_TEXT_SCORE = re.compile(r"\b(?:score|rating|grade)\b\W{0,5}([1-5])(?!\d)|\b([1-5])\s*/\s*5\b", re.IGNORECASE)
_TEXT_VERDICT = re.compile(r"\b(pass|fail)(?:ed)?\b", re.IGNORECASE)


def parse_judge_answer(text: str, mode: Literal["score", "pass_fail"]) -> JudgeVerdict | None:
    for data in json_objects(text):
        parsed = _from_object(data, mode)
        if parsed is not None:
            return parsed
    snippet = text.strip()[:200]
    if mode == "score":
        match = _TEXT_SCORE.search(text)
        if match:
            score = int(match.group(1) or match.group(2))
            return JudgeVerdict((score - 1) / 4, None, snippet)
        return None
    match = _TEXT_VERDICT.search(text)
    if match:
        passed = match.group(1).lower() == "pass"
        return JudgeVerdict(1.0 if passed else 0.0, passed, snippet)
    return None
