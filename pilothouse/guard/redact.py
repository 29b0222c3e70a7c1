"""Redactor: typed placeholders for detected values, per request, and the way back.

One ``Redactor`` lives for one request: every message of the request (and the answer) shares its
numbering, so the same value always becomes the same placeholder::

    redactor = Redactor(PIIScanner(["EMAIL"]))
    redactor.redact("mail bob@example.com")        # ("mail <EMAIL_1>", [Finding(...)])
    redactor.restore("I wrote to <EMAIL_1>.")      # "I wrote to bob@example.com."

Besides what the scanner reports, a value this redactor has seen is replaced wherever it appears
again, even where its context would not make the scanner confident (an unformatted phone number
repeated without the word "call"), so no detected value survives in redacted text.

Not thread-safe: one redactor per request. ``restore`` also replaces text the user typed that
happens to equal an issued placeholder (``<EMAIL_1>`` written literally), since both read the same.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Set
from types import MappingProxyType
from typing import Any

from pilothouse.guard.pii.scanner import PIIScanner
from pilothouse.guard.types import Finding

PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_[0-9]+>")
KNOWN_VALUE = "known-value"


class Redactor:
    """``after``: redactors of the same request whose numbering this one continues, so its
    placeholders never collide with theirs (an answer's new values must not become, or be
    restored as, the request's ``<EMAIL_1>``)."""

    def __init__(self, scanner: PIIScanner, *, after: Iterable[Redactor] = ()) -> None:
        self.scanner = scanner
        self._placeholder_of: dict[str, str] = {}  # value -> placeholder
        self._value_of: dict[str, str] = {}  # placeholder -> value
        self._first_seen: dict[str, Finding] = {}  # value -> the finding that introduced it
        self._issued: dict[str, int] = {}  # entity -> placeholders issued
        for other in after:
            for entity, count in other._issued.items():
                self._issued[entity] = max(self._issued.get(entity, 0), count)
        self.longest_spaced_value = 0  # longest value holding whitespace, for stream hold-back

    @property
    def mapping(self) -> Mapping[str, str]:
        """Placeholder -> original value, for every placeholder issued so far (read-only view)."""
        return MappingProxyType(self._value_of)

    @property
    def values(self) -> Set[str]:
        """Every raw value this redactor has replaced (a live, read-only view)."""
        return self._placeholder_of.keys()

    def redact(self, text: str, *, keep: Collection[str] = ()) -> tuple[str, list[Finding]]:
        """``text`` with every finding replaced by its placeholder, and the findings (spans refer
        to ``text``). Values in ``keep`` are left alone (the stream redactor passes the values it
        just restored). Text without findings comes back as the very same string."""
        findings = self.resolve(text, self.scanner.candidates(text), 0, len(text), keep=keep)
        return self.apply(text, findings, 0, len(text)), findings

    def restore(self, text: str) -> str:
        """Original values back in place of placeholders this redactor issued; others untouched."""
        if "<" not in text or not self._value_of:
            return text
        return PLACEHOLDER.sub(lambda m: self._value_of.get(m.group(), m.group()), text)

    def redact_json(self, value: Any) -> tuple[Any, list[Finding]]:
        """Redact every string in a JSON-like structure (OpenAI messages with string or list-of-parts
        content, tool-call argument strings...). Returns a new structure (dicts, lists and tuples
        rebuilt; keys, numbers and other leaves as they are) and all findings, whose spans refer
        to the string each was found in."""
        findings: list[Finding] = []

        def walk(node: Any) -> Any:
            if isinstance(node, str):
                redacted, found = self.redact(node)
                findings.extend(found)
                return redacted
            if isinstance(node, dict):
                return {key: walk(item) for key, item in node.items()}
            if isinstance(node, list):
                return [walk(item) for item in node]
            if isinstance(node, tuple):
                return tuple(walk(item) for item in node)
            return node

        return walk(value), findings

    # Building blocks, shared with the stream redactor, which scans a held tail in pieces.

    def resolve(
        self, text: str, candidates: Iterable[Finding], pos: int, end: int, *, keep: Collection[str] = ()
    ) -> list[Finding]:
        """The findings to replace in ``text[pos:end]``: the scanner's choice among candidates that
        end by ``end``, minus kept values, plus other occurrences of known values (known before,
        or found now) that nothing else covers."""
        chosen = [f for f in self.scanner.select(candidates) if f.end <= end]
        kept = [f for f in chosen if text[f.start : f.end] in keep]
        chosen = [f for f in chosen if text[f.start : f.end] not in keep]
        fresh = {text[f.start : f.end]: f for f in reversed(chosen)}  # first finding per value
        values = [v for v in self._placeholder_of.keys() | fresh.keys() if v not in keep]
        taken = _Spans(chosen + kept)
        extra = []
        for occurrence in self.occurrences(text, values, pos, end, fresh):  # longer values first
            if not taken.overlaps(occurrence.start, occurrence.end):
                taken.add(occurrence.start, occurrence.end)
                extra.append(occurrence)
        return sorted(chosen + extra, key=lambda f: f.start)

    def occurrences(
        self, text: str, values: Iterable[str], pos: int, end: int, fresh: Mapping[str, Finding] | None = None
    ) -> list[Finding]:
        """Every occurrence of the given known values within ``text[pos:end]``, longest values first."""
        found: list[Finding] = []
        for value in sorted(values, key=lambda v: (-len(v), v)):
            origin = self._first_seen.get(value) or (fresh or {}).get(value)
            if origin is None:
                continue
            at = text.find(value, pos, end)
            while at != -1:
                found.append(
                    Finding(origin.kind, origin.entity, at, at + len(value), origin.score, KNOWN_VALUE)
                )
                at = text.find(value, at + len(value), end)
        return found

    def apply(self, text: str, findings: Iterable[Finding], pos: int, end: int) -> str:
        """``text[pos:end]`` with each finding (sorted, non-overlapping, inside the range) replaced
        by its placeholder; issues new placeholders in order of appearance."""
        pieces: list[str] = []
        cursor = pos
        for finding in findings:
            pieces.append(text[cursor : finding.start])
            pieces.append(self._placeholder(text[finding.start : finding.end], finding))
            cursor = finding.end
        if not pieces:
            return text if pos == 0 and end == len(text) else text[pos:end]
        pieces.append(text[cursor:end])
        return "".join(pieces)

    def _placeholder(self, value: str, finding: Finding) -> str:
        placeholder = self._placeholder_of.get(value)
        if placeholder is None:
            number = self._issued.get(finding.entity, 0) + 1
            self._issued[finding.entity] = number
            placeholder = f"<{finding.entity}_{number}>"
            self._placeholder_of[value] = placeholder
            self._value_of[placeholder] = value
            self._first_seen[value] = finding
            if any(char.isspace() for char in value) and not value.startswith("-----BEGIN"):
                self.longest_spaced_value = max(self.longest_spaced_value, len(value))
        return placeholder


class _Spans:
    """Sorted, non-overlapping spans with a logarithmic overlap test (requests may hold thousands)."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        ordered = sorted(findings, key=lambda f: f.start)
        self._starts = [f.start for f in ordered]
        self._ends = [f.end for f in ordered]

    def overlaps(self, start: int, end: int) -> bool:
        # Ends rise with starts, so the last span starting before `end` is the only one to check.
        index = bisect_left(self._starts, end)
        return index > 0 and self._ends[index - 1] > start

    def add(self, start: int, end: int) -> None:
        index = bisect_left(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)
