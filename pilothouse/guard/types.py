"""What guards report: findings with spans and confidence, never the raw value itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected thing in one text: ``text[start:end]`` is the span.

    ``kind`` is the guard family (``pii``, ``secret``, ``injection``, ``content``, ``output``,
    ``tool``), ``entity`` what was found (``EMAIL``, ``CREDIT_CARD``, ``PROMPT_INJECTION``,
    ``BLOCKLIST``...), ``score`` the confidence in [0, 1], ``detector`` the rule that fired.
    """

    kind: str
    entity: str
    start: int
    end: int
    score: float
    detector: str = ""

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary safe to store and log: the span and score, not the value."""
        return {
            "kind": self.kind,
            "entity": self.entity,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "detector": self.detector,
        }


def non_overlapping(findings: list[Finding]) -> list[Finding]:
    """Sorted by start; where spans overlap keep the higher score (then the longer span)."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
