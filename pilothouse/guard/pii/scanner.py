"""PIIScanner: runs the detectors an entity list needs and resolves their findings."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Literal

from pilothouse.core.guarding import PII_ENTITIES, SECRET_ENTITIES, PIIGuardConfig, SecretsGuardConfig
from pilothouse.guard.pii.address import POSTAL_ADDRESS
from pilothouse.guard.pii.base import Detector
from pilothouse.guard.pii.contact import EMAIL, PHONE
from pilothouse.guard.pii.identifiers import CREDIT_CARD, IBAN, UK_NINO, US_SSN
from pilothouse.guard.pii.network import IPV4, IPV6
from pilothouse.guard.pii.secrets import ASSIGNMENTS, PRIVATE_KEY, TOKENS
from pilothouse.guard.types import Finding, non_overlapping

if TYPE_CHECKING:
    from pilothouse.guard.pii.presidio import PresidioBackend

KNOWN_ENTITIES: tuple[str, ...] = PII_ENTITIES + SECRET_ENTITIES
BUILTIN_DETECTORS: tuple[Detector, ...] = (
    EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, UK_NINO, IPV4, IPV6, POSTAL_ADDRESS,
    PRIVATE_KEY, TOKENS, ASSIGNMENTS,
)  # fmt: skip
_DIGITS = "0123456789"
# Digits joined by at most two separators, four digits or more: the digit part of a number-shaped
# entity. Detectors that need fewer digits scan the whole text when it holds any digit.
_CLUSTER = re.compile(r"[0-9](?:[ ().+/-]{0,2}[0-9]){3,}")
_CLUSTER_FLOOR = 4
_SEPARATORS = str.maketrans("", "", " ().+/-")
# Windows closer than this are scanned as one: a regex crosses the gap faster than a new call starts.
# It exceeds every detector's reach past its digits, so a window never starts inside a finding.
_MERGE_GAP = 256


def digit_clusters(text: str, pos: int) -> list[tuple[int, int, int]]:
    """(start, end, digits) of every cluster of at least four digits from ``pos``."""
    return [
        (match.start(), match.end(), len(match.group().translate(_SEPARATORS)))
        for match in _CLUSTER.finditer(text, pos)
    ]


def windows(clusters: list[tuple[int, int, int]], detector: Detector, pos: int) -> list[tuple[int, int]]:
    """Ranges of start positions where the detector's findings can begin: from ``lead`` before
    each cluster with enough digits to that cluster's end, nearby ranges merged."""
    merged: list[tuple[int, int]] = []
    for start, end, digits in clusters:
        if digits >= detector.min_digits:
            start = max(pos, start - detector.lead)
            if merged and start <= merged[-1][1] + _MERGE_GAP:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
    return merged


Backend = Literal["builtin", "presidio"]


def _presidio(entities: Collection[str]) -> PresidioBackend:
    # Imported here: the module raises RuntimeError (with the pip command) when Presidio is absent.
    from pilothouse.guard.pii.presidio import PresidioBackend

    return PresidioBackend(entities)


class PIIScanner:
    """Finds PII and secrets in text: sorted, non-overlapping findings at or above ``min_score``.

    ``entities=None`` means every PII and secret entity. The ``builtin`` backend is regexes plus
    validators (Luhn, mod-97, allocation rules, entropy): fast, no model, and it does **not** report
    ``PERSON``, which needs a model; ``backend="presidio"`` adds Presidio's findings (``PERSON``
    above all) to the builtin ones and needs ``presidio-analyzer`` installed.
    """

    def __init__(
        self,
        entities: Collection[str] | None = None,
        *,
        min_score: float = 0.5,
        backend: Backend = "builtin",
    ) -> None:
        wanted = KNOWN_ENTITIES if entities is None else tuple(entities)
        unknown = sorted(set(wanted) - set(KNOWN_ENTITIES))
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; known: {', '.join(KNOWN_ENTITIES)}")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], not {min_score}")
        self.entities = frozenset(wanted)
        self.min_score = min_score
        self.backend: Backend = backend
        self._model = _presidio(self.entities) if backend == "presidio" else None
        self._detectors = tuple(d for d in BUILTIN_DETECTORS if d.entities & self.entities)
        spans = [d.max_span for d in self._detectors] + ([64] if self._model is not None else [])
        # Longest text with whitespace inside that one finding can cover (stream redaction holds
        # back at least this much); findings without whitespace are bounded by their token instead.
        self.max_span = max(spans, default=0)

    @classmethod
    def from_config(cls, cfg: PIIGuardConfig | SecretsGuardConfig) -> PIIScanner:
        """The scanner a guard config asks for; a config without ``entities`` means its family."""
        if isinstance(cfg, SecretsGuardConfig):
            entities = SECRET_ENTITIES if cfg.entities is None else tuple(cfg.entities)
            return cls(entities, min_score=cfg.min_score)
        entities = PII_ENTITIES if cfg.entities is None else tuple(cfg.entities)
        return cls(entities, min_score=cfg.min_score, backend=cfg.backend)

    def scan(self, text: str) -> list[Finding]:
        return self.select(self.candidates(text))

    def candidates(self, text: str, pos: int = 0) -> list[Finding]:
        """Every raw finding starting at or after ``pos``: any score, any entity the detectors run
        for these entities report. Text before ``pos`` is read as context only; the stream redactor
        scans its held tail this way (see :mod:`.base` for why that matches a whole-text scan)."""
        found: list[Finding] = []
        end = len(text)
        has_digits: bool | None = None
        clusters: list[tuple[int, int, int]] | None = None
        for detector in self._detectors:
            if not detector.min_digits:
                found.extend(detector.find(text, pos, end))
                continue
            if has_digits is None:
                has_digits = any(text.find(digit, pos) != -1 for digit in _DIGITS)
            if not has_digits:
                continue
            if detector.min_digits < _CLUSTER_FLOOR:
                found.extend(detector.find(text, pos, end))
                continue
            if clusters is None:
                clusters = digit_clusters(text, pos)
            for start, stop in windows(clusters, detector, pos):
                found.extend(detector.find(text, start, stop))
        if self._model is not None:
            found.extend(f for f in self._model.analyze(text) if f.start >= pos)
        return found

    def select(self, candidates: Iterable[Finding]) -> list[Finding]:
        """Findings among candidates: wanted entities at or above ``min_score``, overlaps resolved."""
        return non_overlapping(
            [f for f in candidates if f.score > 0 and f.score >= self.min_score and f.entity in self.entities]
        )
