"""Optional backend: Microsoft Presidio's analyzer (spaCy NER), mainly for PERSON.

Imported lazily by :class:`PIIScanner` only when ``backend="presidio"``; Presidio is not a
dependency of Pilothouse, and importing this module without it raises :class:`RuntimeError` with
the install command. Its entity names are mapped to ours; the builtin detectors run beside it.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

from pilothouse.guard.pii.base import ENTITY_KIND
from pilothouse.guard.types import Finding

# Presidio entity name -> ours.
PRESIDIO_ENTITIES: dict[str, str] = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "UK_NINO": "UK_NINO",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
}
INSTALL_HINT = (
    "the presidio PII backend needs Presidio: pip install presidio-analyzer "
    "(and a spaCy model: python -m spacy download en_core_web_lg)"
)

try:
    # Through importlib: the package has no type information, and Any stops at this boundary.
    _analyzer: Any = importlib.import_module("presidio_analyzer")
except ImportError as exc:
    raise RuntimeError(INSTALL_HINT) from exc


class PresidioBackend:
    def __init__(self, entities: Collection[str], *, language: str = "en") -> None:
        self._engine: Any = _analyzer.AnalyzerEngine()
        self._language = language
        self._theirs = [theirs for theirs, ours in PRESIDIO_ENTITIES.items() if ours in entities]

    def analyze(self, text: str) -> list[Finding]:
        if not self._theirs:
            return []
        results: list[Any] = self._engine.analyze(text=text, entities=self._theirs, language=self._language)
        findings = []
        for result in results:
            entity = PRESIDIO_ENTITIES[result.entity_type]
            findings.append(
                Finding(
                    ENTITY_KIND[entity],
                    entity,
                    int(result.start),
                    int(result.end),
                    float(result.score),
                    "presidio",
                )
            )
        return findings
