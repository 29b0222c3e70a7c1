"""POSTAL_ADDRESS: US and UK street lines, PO boxes and UK postcodes.

Built for precision: a street line needs a house number, one to three capitalised name words and
a street-type word (``123 Main St``, ``221B Baker Street``, ``350 5th Avenue``). A unit (``Apt 4B``),
a city, a state and ZIP code or a UK postcode extend the span and the confidence. Free-form
addresses without a street type, and cities or ZIP codes alone, are not reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pilothouse.guard.pii.base import Detector, found, is_boundary, scan
from pilothouse.guard.types import Finding

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Way"
    "|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Crescent|Close|Plaza"
)
_UK_POSTCODE = r"(?:[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]?|GIR) ?[0-9][ABD-HJLNP-UW-Z]{2}"
_WORD = r"[A-Z][a-z]{1,14}(?:'s)?"
_STREET = re.compile(
    r"[0-9]{1,6}[A-Za-z]?"
    r"(?: (?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?)?"
    rf"(?: (?:{_WORD}|[0-9]{{1,3}}(?:st|nd|rd|th))){{1,3}}"
    rf" (?:{_STREET_TYPES})\b\.?"
    r"(?P<unit>,? (?:Apt|Apartment|Flat|Suite|Ste|Unit|Floor|Fl|Room|Rm)\.? ?#?[A-Za-z0-9-]{1,6}\b"
    r"|,? #[A-Za-z0-9-]{1,6}\b)?"
    rf"(?P<city>,? {_WORD}(?: {_WORD})?"
    r"(?:,? [A-Z]{2}(?![A-Za-z0-9])(?: [0-9]{5}(?:-[0-9]{4})?)?"
    r"|,? [0-9]{5}(?:-[0-9]{4})?"
    rf"|,? {_UK_POSTCODE}(?![A-Za-z0-9]))?)?"
)
# A unit written before the street line: "Apt 4B, 123 Main St".
_UNIT_BEFORE = re.compile(r"(?:Apt|Apartment|Flat|Suite|Ste|Unit)\.? ?#?[A-Za-z0-9-]{1,6},? $")
_PO_BOX = re.compile(r"(?:P\.? ?O\.? |Post Office )Box [0-9]{1,6}\b")
# Postcodes are found from their inward part (digit first, which the regex engine skips to quickly).
_INWARD = re.compile(r"[0-9][ABD-HJLNP-UW-Z]{2}")
_POSTCODE_ENDING = re.compile(_UK_POSTCODE + r"\Z")
ADDRESS_MAX_SPAN = 180  # unit before (24) + the longest street line the pattern allows (151), and edges


def _judge_street(text: str, match: re.Match[str], start: int) -> Finding | None:
    first, end = match.span()
    if first > 0 and (text[first - 1].isalnum() or text[first - 1] in "#/.,:-$£€"):
        return None
    unit = _UNIT_BEFORE.search(text, max(start, first - 24), first)
    score = 0.85 if unit or match.group("unit") or match.group("city") else 0.7
    return found("POSTAL_ADDRESS", unit.start() if unit else first, end, score, "regex:address")


def find_street_lines(text: str, start: int, stop: int) -> Iterator[Finding]:
    return scan(_STREET, text, start, stop, ADDRESS_MAX_SPAN, lambda match: _judge_street(text, match, start))


def _judge_po_box(text: str, match: re.Match[str]) -> Finding | None:
    if not is_boundary(text, match.start() - 1):
        return None
    return found("POSTAL_ADDRESS", match.start(), match.end(), 0.75, "regex:po_box")


def find_po_boxes(text: str, start: int, stop: int) -> Iterator[Finding]:
    if text.find("Box", start, stop + 24) == -1:
        return iter(())
    return scan(_PO_BOX, text, start, stop, 24, lambda match: _judge_po_box(text, match))


def find_postcodes(text: str, start: int, stop: int) -> Iterator[Finding]:
    for inward in _INWARD.finditer(text, start, min(len(text), stop + 8)):
        end = inward.end()
        match = _POSTCODE_ENDING.search(text[max(start, inward.start() - 5) : end])
        if match is None or not is_boundary(text, end):
            continue
        first = end - len(match.group())
        if first >= stop or not is_boundary(text, first - 1):
            continue
        # "SW1A1AA" unspaced could be any code; spaced postcodes are distinctive enough alone.
        spaced = " " in match.group() or match.group() == "GIR0AA"
        yield found("POSTAL_ADDRESS", first, end, 0.7 if spaced else 0.4, "regex:uk_postcode")


def find_addresses(text: str, start: int, stop: int) -> Iterator[Finding]:
    yield from find_street_lines(text, start, stop)
    yield from find_po_boxes(text, start, stop)
    yield from find_postcodes(text, start, stop)


# A unit before the street line starts up to 24 characters before the house number.
POSTAL_ADDRESS = Detector(
    "postal_address",
    frozenset({"POSTAL_ADDRESS"}),
    find_addresses,
    max_span=ADDRESS_MAX_SPAN,
    min_digits=1,
    lead=32,
)
