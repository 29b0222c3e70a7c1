"""Words just before a match that raise or lower its confidence.

Only text *before* a match is consulted, never after: the stream redactor relies on a finding's
score being fixed once the finding itself is complete.
"""

from __future__ import annotations

import re

CONTEXT_WIDTH = 40

PHONE_WORDS = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|call|fax|contact|whatsapp|sms|text me|dial|ring)"
)
CARD_WORDS = re.compile(r"\b(?:card|credit|debit|visa|mastercard|amex|payment|cc|pan)\b")
SSN_WORDS = re.compile(r"\b(?:ssn|social security|social sec|taxpayer|itin)\b")
SECRET_WORDS = re.compile(
    r"(?:secret|token|api[ _-]?key|apikey|passw|passphrase|credential|auth|bearer|private|\bkey\b)"
)
# Identifiers that happen to be shaped like phone, card or SSN numbers.
ID_WORDS = re.compile(
    r"(?:\border|\binvoice|\btracking|\bref\b|\breference|\bid\b|\bisbn|\bsku|\bserial|\bticket"
    r"|\bcase\b|\bpo\b|\bpart|\bbatch|\blot\b|\bshipment|\bconfirmation|#\s*$)"
)
VERSION_WORDS = re.compile(r"(?:\bversion|\bver\b|\brelease|\bbuild|\bfirmware|\bv\s*$|\bpython|\bnode)")
IP_WORDS = re.compile(r"\b(?:ip|ipv4|ipv6|address|host|server|client|from|src|dst|gateway)\b")


def before(text: str, start: int, width: int = CONTEXT_WIDTH) -> str:
    """The lowercased window of text that ends where a match starts."""
    return text[max(0, start - width) : start].lower()


def mentions(text: str, start: int, words: re.Pattern[str], width: int = CONTEXT_WIDTH) -> bool:
    return words.search(before(text, start, width)) is not None
