"""EMAIL and PHONE."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pilothouse.guard.pii import context
from pilothouse.guard.pii.base import Detector, continues_group, found, is_boundary, scan
from pilothouse.guard.pii.validators import international_valid, nanp_valid, uk_national_valid
from pilothouse.guard.types import Finding

# The local part, read backwards from the "@": matching a reversed window keeps the cost to the
# few characters around each "@" instead of a regex pass over the whole text.
_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9._%+-]{1,64}")
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)


def find_emails(text: str, start: int, stop: int) -> Iterator[Finding]:
    at = text.find("@", start)
    while at != -1:
        window = text[max(0, at - 65) : at][::-1]
        local = _LOCAL_REVERSED.match(window)
        domain = _DOMAIN.match(text, at + 1)
        if local and domain and local.end() <= 64:
            first = at - local.end()
            while text[first] in ".-+%" and first < at:
                first += 1  # a local part starts with a letter, digit or underscore
            if start <= first < min(at, stop) and is_boundary(text, first - 1):
                yield found("EMAIL", first, domain.end(), 0.9, "regex:email")
        at = text.find("@", at + 1)


# One pass, four shapes, tried in order at each position: international (+44 20 7946 0958,
# 0044...), NANP ((415) 555-2671, 1-800-555-0199), UK national (020 7946 0958, 07700 900123) and
# bare digit runs, which only context words can make confident.
_PHONE = re.compile(
    # The lookahead gives the regex engine a first-character set to skip ahead with (7x faster).
    r"(?=[+(0-9])(?:(?P<intl>(?:\+|00)[1-9][0-9]{0,2}(?:[ .-]?\(0\))?"
    r"(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,6})"
    r"|(?P<us>(?:\+?1[ .-]?)?(?:\((?P<area>[0-9]{3})\) ?|(?P<area2>[0-9]{3})[ .-])"
    r"(?P<exchange>[0-9]{3})[ .-][0-9]{4})"
    r"|(?P<uk>(?:\(0[0-9]{2,4}\) ?|0[0-9]{2,4}[ -])[0-9]{3,4}[ -]?[0-9]{3,4})"
    r"|(?P<bare>[0-9]{10,11}))"
)
PHONE_MAX_SPAN = 56  # longest match the pattern can explore, edges included


def _clean_edges(text: str, start: int, end: int) -> bool:
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "+-./_#$€£"):
        return False
    if end < len(text):
        after = text[end]
        if after.isalnum() or after in "_@":
            return False
        if after in ".-/," and end + 1 < len(text) and text[end + 1].isdigit():
            return False  # 415-555-2671-99 or 0.415.555.2671.1: part of something longer
    return True


def _phone_score(match: re.Match[str]) -> float:
    digits = re.sub(r"\D", "", match.group().replace("(0)", ""))
    if match.group("intl") is not None:
        return 0.85 if international_valid(digits.removeprefix("00")) else 0.0
    if match.group("us") is not None:
        area = match.group("area") or match.group("area2") or ""
        if len(digits) == 11 and digits[0] != "1":
            return 0.0
        return 0.75 if nanp_valid(area, match.group("exchange")) else 0.0
    if match.group("uk") is not None:
        return 0.7 if uk_national_valid(digits) else 0.0
    # Bare runs of 10 or 11 digits: timestamps and ids look just like this.
    if len(digits) == 10 and nanp_valid(digits[:3], digits[3:6]):
        return 0.35
    if len(digits) == 11 and digits[0] == "1" and nanp_valid(digits[1:4], digits[4:7]):
        return 0.35
    return 0.35 if uk_national_valid(digits) and digits[1] == "7" else 0.0


def _judge_phone(text: str, match: re.Match[str]) -> Finding | None:
    start, end = match.span()
    if not _clean_edges(text, start, end) or continues_group(text, start):
        return None
    score = _phone_score(match)
    if score == 0:
        return None
    if context.mentions(text, start, context.ID_WORDS):
        score = 0.2
    elif context.mentions(text, start, context.PHONE_WORDS):
        score += 0.35 if match.group("bare") is not None else 0.1
    return found("PHONE", start, end, score, "regex:phone")


def find_phones(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_PHONE, text, start, stop, PHONE_MAX_SPAN, lambda match: _judge_phone(text, match))


EMAIL = Detector("email", frozenset({"EMAIL"}), find_emails)
PHONE = Detector("phone", frozenset({"PHONE"}), find_phones, max_span=PHONE_MAX_SPAN, min_digits=7, lead=2)
