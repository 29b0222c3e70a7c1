"""StreamRedactor: restore and redact an answer while it streams, emitting only final text.

The output of all ``feed`` calls plus ``flush`` equals the one-shot transform of the whole answer,
whatever the chunking::

    restored = redactor.restore(answer) if restore else answer    # placeholders issued before the stream
    redacted = redactor.redact(restored, keep=<values restored>)[0] if redact else restored

Values put back by ``restore`` are not redacted again. One difference is inherent to streaming: a
value this redactor first detects late in the answer cannot reach back to an earlier copy the scanner
did not flag on its own (that text was already sent); the one-shot call would replace both.

How the hold-back works: placeholders are restored as soon as they are complete (a trailing ``<EMAI``
waits). The restored text is held and scanned together with up to 96 characters of already-emitted
text in front (for boundaries and context words). Text is emitted up to a *cut* that no future
character can change:

- the last ``W`` characters stay held, ``W`` being the longest span with whitespace inside that one
  finding may cover (a street address: about 190 characters with edge checks), or a longer known
  value;
- so does the last whitespace-free run (keys, tokens, emails and URLs grow until a space ends them);
- the cut then moves left to the start of any candidate finding (whatever its score or entity) or
  known value it would split, so an unterminated PEM block is held until its END line.

Detectors scan restartably (:mod:`pilothouse.guard.pii.base`), so a scan of the held text from the
cut finds what a scan of the whole answer finds there.

Bounded memory: when more than ``HOLD_CAP`` (8 KiB) would stay held, the cut is forced ``W`` from
the end (moved right past a finding it would split, which is redacted whole, or up to the last run
when the finding runs to the end, as a PEM block still arriving does); the rest is then scanned
without context, so it reads as new tokens. Equivalence with the one-shot transform is given up for
such text, and a short tail of a secret cut this way may go unflagged.

The held text is rescanned only after it grew by a step (half of ``W``, or half the held text when
a long run is held), so the cost per character stays roughly constant.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pilothouse.guard.redact import PLACEHOLDER, Redactor
from pilothouse.guard.types import Finding

HOLD_CAP = 8192
CONTEXT = 96  # emitted characters scanned in front of the held text
LOOKAHEAD = 8  # characters past a match that its edge checks read
_TRAILING_RUN = re.compile(r"\S*")
_PARTIAL_PLACEHOLDER = re.compile(r"<[A-Z_]*[0-9]*")


def _trailing_run(text: str) -> int:
    """Length of the whitespace-free run the text ends with."""
    run = _TRAILING_RUN.match(text[::-1])
    return run.end() if run else 0


class StreamRedactor:
    def __init__(self, redactor: Redactor, *, restore: bool, redact: bool) -> None:
        self._redactor = redactor
        self._redact = redact
        # Only placeholders issued before the stream starts are restored; their values are kept.
        self._restorable = dict(redactor.mapping) if restore else {}
        self._keep = frozenset(self._restorable.values())
        self._longest_placeholder = max(map(len, self._restorable), default=0)
        self._partial = ""  # a trailing "<EMAI" that may become a placeholder
        self._held = ""  # restored text not emitted yet
        self._context = ""  # the emitted text just before it
        self._due = 0  # held length at which the next scan happens

    def feed(self, delta: str) -> str:
        """The text that is safe to send now (often empty while text is held)."""
        text = self._restore(delta, final=False)
        if not self._redact:
            return text
        self._held += text
        if len(self._held) < max(self._due, self._hold_back() + self._step()):
            return ""
        out = self._emit(final=False)
        held = len(self._held)
        # Held text that could not go out is rescanned after it grew by half, and once it passes the cap.
        self._due = min(held + max(self._step(), held // 2), max(held + 1, HOLD_CAP + 1))
        return out

    def flush(self) -> str:
        """Everything still held, transformed as the end of the text."""
        text = self._restore("", final=True)
        if not self._redact:
            return text
        self._held += text
        return self._emit(final=True)

    def _hold_back(self) -> int:
        return max(self._redactor.scanner.max_span, self._redactor.longest_spaced_value) + LOOKAHEAD

    def _step(self) -> int:
        return max(32, self._hold_back() // 2)

    def _restore(self, delta: str, *, final: bool) -> str:
        if not self._restorable:
            return delta
        text = self._partial + delta
        self._partial = ""
        at = text.rfind("<")
        if (
            not final
            and at != -1
            and len(text) - at < self._longest_placeholder
            and _PARTIAL_PLACEHOLDER.fullmatch(text, at)
        ):
            text, self._partial = text[:at], text[at:]
        if "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: self._restorable.get(m.group(), m.group()), text)

    def _emit(self, *, final: bool) -> str:
        buffer = self._context + self._held
        pos = len(self._context)
        candidates = self._redactor.scanner.candidates(buffer, pos)
        selected = self._redactor.scanner.select(candidates)
        cut = len(buffer) if final else self._safe_cut(buffer, pos, candidates, selected)
        forced = len(buffer) - cut > HOLD_CAP
        if forced:
            cut, candidates = self._forced_cut(buffer, pos, candidates, selected)
        findings = self._redactor.resolve(buffer, candidates, pos, cut, keep=self._keep)
        out = self._redactor.apply(buffer, findings, pos, cut)
        self._held = buffer[cut:]
        # After a forced cut the held text starts mid-entity: scanned without context, its rest reads
        # as a new token (an entropy finding) instead of the tail of one already emitted.
        self._context = "" if forced else buffer[max(0, cut - CONTEXT) : cut]
        return out

    def _safe_cut(self, buffer: str, pos: int, candidates: list[Finding], selected: list[Finding]) -> int:
        end = len(buffer)
        cut = min(end - self._hold_back(), end - _trailing_run(buffer))
        # Known values count as spans too: their copies are replaced even where the scanner is silent.
        fresh = {buffer[f.start : f.end]: f for f in reversed(selected)}
        values = (self._redactor.values | fresh.keys()) - self._keep
        spans = candidates + self._redactor.occurrences(buffer, values, pos, end, fresh)
        for span in sorted(spans, key=lambda f: f.start, reverse=True):
            if span.start < cut < span.end:
                cut = span.start
        return max(cut, pos)

    def _forced_cut(
        self, buffer: str, pos: int, candidates: list[Finding], selected: list[Finding]
    ) -> tuple[int, list[Finding]]:
        """Past the cap: cut ``W`` from the end; a finding across the cut is redacted whole, or up to
        the trailing run when it runs to the end (a PEM block still arriving), so the piece of a
        line it holds back is rescanned whole with what follows."""
        end = len(buffer)
        cut = end - self._hold_back()
        for finding in selected:
            if finding.start < cut < finding.end:
                stop = finding.end
                tail = end - _trailing_run(buffer)
                if stop == end and finding.start < tail < end:
                    stop = tail
                clipped = replace(finding, end=stop)
                return stop, [clipped if c is finding else c for c in candidates]
        return cut, candidates
