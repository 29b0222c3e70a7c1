"""The ``redacted`` storage rule: what a trace keeps of messages and answers.

Runs once per finished trace, over the messages and the output together, with one redactor so a
value that appears in both gets the same placeholder (a reader can still follow it through).
"""

from __future__ import annotations

from typing import Any

from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.redact import Redactor


class PayloadRedactor:
    """Every PII and secret entity the built-in scanner knows, replaced by typed placeholders."""

    def __init__(self, scanner: PIIScanner | None = None) -> None:
        self._scanner = scanner or PIIScanner()

    def __call__(self, messages: Any, output: Any) -> tuple[Any, Any]:
        redactor = Redactor(self._scanner)
        return redactor.redact_json(messages)[0], redactor.redact_json(output)[0]
