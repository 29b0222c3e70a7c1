"""Prompt-injection and jailbreak detection for user input and for retrieved or tool content.

The score of a text is the higher of the heuristic score (the strongest paragraph-sized part of the
text, see ``heuristics``) and the classifier score (the strongest token window, see
``classifier``); at or above the threshold, ``scan`` reports one finding. Findings carry the span of
the strongest evidence, never the text itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilothouse.core.guarding import InjectionGuardConfig
from pilothouse.guard.injection import classifier as _classifier
from pilothouse.guard.injection.heuristics import HeuristicResult, Signal, analyse, combine
from pilothouse.guard.types import Finding

# Heuristic evidence combines within one part of a document, not across all of it: a long report
# with one weak cue per page is not an attack.
_PART, _PART_STEP = 1200, 600


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """``score`` is what the threshold applies to: the higher of ``heuristic_score`` and
    ``classifier_score`` (``None`` when the classifier is off or unavailable). ``signals`` names the
    heuristic rules that fired, strongest first; it never contains the text."""

    score: float
    signals: tuple[str, ...]
    classifier_score: float | None
    heuristic_score: float


def _part_score(text: str, signals: tuple[Signal, ...]) -> float:
    if len(text) <= _PART or not signals:
        return combine(signals)
    best = 0.0
    for start in range(0, len(text) - _PART_STEP, _PART_STEP):
        end = start + _PART
        inside = [s for s in signals if s.start < end and s.end > start]
        best = max(best, combine(inside))
    return best


class InjectionDetector:
    """Scores text for prompt injection; ``scan`` turns a score at or above ``threshold`` into a finding."""

    def __init__(self, *, threshold: float = 0.5, use_classifier: bool = True) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        self.threshold = threshold
        self.use_classifier = use_classifier

    @classmethod
    def from_config(cls, cfg: InjectionGuardConfig) -> InjectionDetector:
        return cls(threshold=cfg.threshold, use_classifier=cfg.classifier)

    @property
    def classifier_available(self) -> bool:
        """False when the classifier is switched off or cannot load (then heuristics decide alone)."""
        return self.use_classifier and _classifier.load_model() is not None

    def _evaluate(self, text: str) -> tuple[InjectionVerdict, HeuristicResult, tuple[int, int] | None]:
        heuristics = analyse(text)
        heuristic_score = _part_score(text, heuristics.signals)
        model = _classifier.load_model() if self.use_classifier else None
        classifier_score: float | None = None
        window: tuple[int, int] | None = None
        if model is not None and text.strip():
            probability, window = model.score(text, heuristics)
            classifier_score = round(probability, 4)
        score = max(heuristic_score, classifier_score or 0.0)
        verdict = InjectionVerdict(
            round(score, 4), heuristics.names(), classifier_score, round(heuristic_score, 4)
        )
        return verdict, heuristics, window

    def score(self, text: str) -> InjectionVerdict:
        return self._evaluate(text)[0]

    def scan(self, text: str) -> list[Finding]:
        verdict, heuristics, window = self._evaluate(text)
        if verdict.score < self.threshold:
            return []
        strongest = heuristics.strongest()
        by_classifier = verdict.classifier_score is not None and verdict.classifier_score >= self.threshold
        parts = []
        if strongest is not None and strongest.weight >= 0.3:
            parts.append(f"heuristic:{strongest.family}")
            start, end = strongest.start, strongest.end
        elif window is not None:
            start, end = window
        else:
            start, end = 0, len(text)
        if by_classifier:
            parts.append("classifier")
        return [
            Finding(
                "injection", "PROMPT_INJECTION", start, end, verdict.score, "+".join(parts) or "heuristic"
            )
        ]
