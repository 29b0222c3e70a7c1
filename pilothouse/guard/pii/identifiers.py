"""CREDIT_CARD, IBAN, US_SSN and UK_NINO: numbers with a checksum or allocation rules."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pilothouse.guard.pii import context
from pilothouse.guard.pii.base import Detector, continues_group, digit_edges, found, is_boundary, scan
from pilothouse.guard.pii.validators import (
    IBAN_LENGTHS,
    card_network,
    iban_valid,
    luhn_valid,
    nino_prefix_valid,
    ssn_valid,
)
from pilothouse.guard.types import Finding

# 4-4-4-4 (1-4 digits last, 13-19 in all), Amex/Diners 4-6-5 and 4-6-4, or 13-19 bare digits.
_CARD = re.compile(
    r"[0-9]{4}(?:(?P<sep>[ -])[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{1,4}(?:(?P=sep)[0-9]{1,3})?"
    r"|(?P<sep2>[ -])[0-9]{6}(?P=sep2)[0-9]{4,5}|[0-9]{9,15})"
)
_CARD_SPAN = 26


def _judge_card(text: str, match: re.Match[str]) -> Finding | None:
    start, end = match.span()
    digits = match.group().replace(" ", "").replace("-", "")
    if not (
        13 <= len(digits) <= 19
        and digit_edges(text, start, end)
        and digits.count(digits[0]) != len(digits)  # 0000 0000 0000 0000 passes Luhn
        and luhn_valid(digits)
        and not continues_group(text, start)
    ):
        return None
    separated = match.group("sep") is not None or match.group("sep2") is not None
    network = card_network(digits)
    # A known scheme (IIN range and length) makes a Luhn-valid number far likelier to be a card.
    score = (0.95 if separated else 0.85) if network else (0.6 if separated else 0.3)
    if context.mentions(text, start, context.ID_WORDS):
        score = min(score, 0.3)
    elif context.mentions(text, start, context.CARD_WORDS):
        score += 0.1 if network else 0.3
    return found("CREDIT_CARD", start, end, score, "luhn")


def find_cards(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_CARD, text, start, stop, _CARD_SPAN, lambda match: _judge_card(text, match))


# Either case (the mod-97 check keeps precision). The pattern may run into following words; the
# country's length decides where the IBAN ends.
_IBAN = re.compile(r"[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}")
_IBAN_SPAN = 68
_SIX_DIGITS = re.compile(r"[0-9]{6}")


def _iban_end(text: str, start: int, stop: int, length: int) -> int | None:
    """Index just past the ``length``-th letter or digit from ``start``, if the match holds that many."""
    count = 0
    for index in range(start, stop):
        if text[index] != " ":
            count += 1
            if count == length:
                return index + 1
    return None


def _judge_iban(text: str, match: re.Match[str]) -> Finding | None:
    start = match.start()
    length = IBAN_LENGTHS.get(text[start : start + 2].upper(), 0)
    end = _iban_end(text, start, match.end(), length) if length else None
    if end is None or not (is_boundary(text, start - 1) and is_boundary(text, end)):
        return None
    compact = text[start:end].replace(" ", "").upper()
    # Six digits in a row: true of every IBAN we know of, and what the scanner's digit gate assumes.
    if not (_SIX_DIGITS.search(compact) and iban_valid(compact)):
        return None
    return found("IBAN", start, end, 0.95, "mod97")


def find_ibans(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_IBAN, text, start, stop, _IBAN_SPAN, lambda match: _judge_iban(text, match))


_SSN = re.compile(r"(?P<area>[0-9]{3})(?P<sep>[- ]?)(?P<group>[0-9]{2})(?P=sep)(?P<serial>[0-9]{4})")
_SSN_SCORES = {"-": (0.85, 0.1), " ": (0.6, 0.25), "": (0.3, 0.5)}  # separator -> (score, context boost)


def _judge_ssn(text: str, match: re.Match[str]) -> Finding | None:
    start, end = match.span()
    if not (
        digit_edges(text, start, end)
        and ssn_valid(match.group("area"), match.group("group"), match.group("serial"))
    ):
        return None
    score, boost = _SSN_SCORES[match.group("sep")]
    if context.mentions(text, start, context.ID_WORDS):
        score = 0.2
    elif context.mentions(text, start, context.SSN_WORDS):
        score += boost
    return found("US_SSN", start, end, score, "regex:ssn")


def find_ssns(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_SSN, text, start, stop, 14, lambda match: _judge_ssn(text, match))


_NINO = re.compile(r"(?P<prefix>[A-Z]{2}) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]")


def _judge_nino(text: str, match: re.Match[str]) -> Finding | None:
    start, end = match.span()
    if is_boundary(text, start - 1) and is_boundary(text, end) and nino_prefix_valid(match["prefix"]):
        return found("UK_NINO", start, end, 0.85, "regex:nino")
    return None


def find_ninos(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_NINO, text, start, stop, 16, lambda match: _judge_nino(text, match))


CREDIT_CARD = Detector(
    "credit_card", frozenset({"CREDIT_CARD"}), find_cards, max_span=_CARD_SPAN, min_digits=13
)
IBAN = Detector("iban", frozenset({"IBAN"}), find_ibans, max_span=_IBAN_SPAN, min_digits=6, lead=24)
US_SSN = Detector("us_ssn", frozenset({"US_SSN"}), find_ssns, max_span=14, min_digits=9)
UK_NINO = Detector("uk_nino", frozenset({"UK_NINO"}), find_ninos, max_span=16, min_digits=6, lead=3)
