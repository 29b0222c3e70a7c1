"""IP_ADDRESS: IPv4 with octet checks, IPv6 validated by :mod:`ipaddress`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pilothouse.guard.pii import context
from pilothouse.guard.pii.base import Detector, found, is_boundary, scan
from pilothouse.guard.pii.validators import ipv4_valid, ipv6_valid
from pilothouse.guard.types import Finding

_IPV4 = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_IPV6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?")
_HEX = frozenset("0123456789abcdefABCDEF")


def _ipv4_edges(text: str, start: int, end: int) -> bool:
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._-"):
        return False
    if end < len(text):
        after = text[end]
        if after.isalnum() or after in "_-":
            return False
        if after == "." and end + 1 < len(text) and text[end + 1].isdigit():
            return False  # 1.2.3.4.5: a longer dotted number
    return True


def _judge_ipv4(text: str, match: re.Match[str]) -> Finding | None:
    start, end = match.span()
    if not (_ipv4_edges(text, start, end) and ipv4_valid(match.group())):
        return None
    if context.mentions(text, start, context.VERSION_WORDS, width=16):
        return None  # "version 1.2.3.4", "v 10.0.0.1"
    score = 0.9 if context.mentions(text, start, context.IP_WORDS) else 0.75
    return found("IP_ADDRESS", start, end, score, "regex:ipv4")


def find_ipv4(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_IPV4, text, start, stop, 18, lambda match: _judge_ipv4(text, match))


def find_ipv6(text: str, pos: int, stop: int) -> Iterator[Finding]:
    # Anchored on colons (rare in prose) rather than a pass over every hex letter of the text.
    colon = text.find(":", pos)
    while colon != -1 and colon < stop:
        start = colon
        while start > colon - 4 and start > 0 and text[start - 1] in _HEX:
            start -= 1
        clean = start == 0 or (is_boundary(text, start - 1) and text[start - 1] != ".")
        match = _IPV6.match(text, start) if clean and start >= pos else None
        if (
            match is not None
            and is_boundary(text, match.end())
            and text[match.end() : match.end() + 1] != ":"
            and ipv6_valid(match.group())
        ):
            yield found("IP_ADDRESS", start, match.end(), 0.85, "ipaddress:ipv6")
            colon = text.find(":", match.end())
            continue
        colon = text.find(":", colon + 1)


IPV4 = Detector("ipv4", frozenset({"IP_ADDRESS"}), find_ipv4, max_span=18, min_digits=4)
IPV6 = Detector("ipv6", frozenset({"IP_ADDRESS"}), find_ipv6)
