"""What a detector is, and the one way detectors walk a regex through a text.

A detector reports the findings that *start* in ``[start, stop)`` of a text; it may read the text
before and after (boundaries, context words, the rest of a match). Two properties let the scanner
look at parts of a text and the stream redactor rescan only its held tail, with the same results as
a scan of the whole text:

- Matches are *restartable*: a rejected match is retried one character on, and only an accepted
  one (a finding) consumes its span. So a scan begun at any position outside a finding reports
  what a scan from the start reports from there on.
- Number-shaped detectors declare ``min_digits`` and ``lead``: each of their findings holds a
  cluster of at least ``min_digits`` digits (digits joined by at most two of `` ().+/-``) and starts
  at most ``lead`` characters before that cluster. The scanner only looks near such clusters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pilothouse.core.guarding import PII_ENTITIES, SECRET_ENTITIES
from pilothouse.guard.types import Finding

ENTITY_KIND: dict[str, str] = {entity: "pii" for entity in PII_ENTITIES} | {
    entity: "secret" for entity in SECRET_ENTITIES
}

DetectFn = Callable[[str, int, int], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Detector:
    """One family of rules; ``entities`` are the names it can report (used to skip it)."""

    name: str
    entities: frozenset[str]
    find: DetectFn
    # Longest text one match can cover when it may hold whitespace; 0 when matches never hold
    # whitespace (the stream redactor holds whitespace-free runs whole instead).
    max_span: int = 0
    min_digits: int = 0
    lead: int = 0


def found(entity: str, start: int, end: int, score: float, detector: str) -> Finding:
    return Finding(ENTITY_KIND[entity], entity, start, end, min(0.99, max(0.0, score)), detector)


def scan(
    pattern: re.Pattern[str],
    text: str,
    start: int,
    stop: int,
    reach: int,
    judge: Callable[[re.Match[str]], Finding | None],
) -> Iterator[Finding]:
    """Findings ``judge`` makes of the matches starting in ``[start, stop)``, restartably.

    ``reach`` bounds a match's length, so the regex never reads further than ``stop + reach``.
    """
    at, end = start, min(len(text), stop + reach)
    while at < stop:
        match = pattern.search(text, at, end)
        if match is None or match.start() >= stop:
            return
        finding = judge(match)
        if finding is None:
            at = match.start() + 1
        else:
            yield finding
            at = max(finding.end, match.start() + 1)


def is_boundary(text: str, index: int) -> bool:
    """True at the text's ends and next to anything that is not a letter or digit."""
    return index < 0 or index >= len(text) or not text[index].isalnum()


def digit_edges(text: str, start: int, end: int) -> bool:
    """Not glued to letters or digits, and not one piece of a longer dotted or dashed number."""
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-./_#+"):
        return False
    if end < len(text):
        after = text[end]
        if after.isalnum() or after == "_":
            return False
        if after in "-./," and end + 1 < len(text) and text[end + 1].isdigit():
            return False
    return True


# "GB45 YAQN 9177 0285 4933 99": a card-shaped or phone-shaped tail of a longer grouped code.
_GROUPED_BEFORE = re.compile(r"(?<![A-Za-z0-9.-])(?:[A-Z]{2}[0-9]{2}|[0-9]{4})(?:[ -][A-Z0-9]{4})*[ -]\Z")


def continues_group(text: str, start: int) -> bool:
    return _GROUPED_BEFORE.search(text, max(0, start - 40), start) is not None
