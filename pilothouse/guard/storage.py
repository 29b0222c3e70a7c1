"""The ``redacted`` storage rule: what a trace keeps of messages and answers.

Runs once per finished trace, over the messages and the output together, with one redactor so a
value that appears in both gets the same placeholder (a reader can still follow it through).

Scanning costs about 40 µs per 1,000 characters on the event loop, so each trace has a budget
(``max_chars``, 64 KiB by default: under 3 ms): strings past it are not kept at all, replaced by a
note of their length. A batch of documents sent for embedding keeps its first inputs, never raw text.
"""

from __future__ import annotations

from typing import Any

from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.redact import Redactor

DEFAULT_BUDGET = 64 * 1024


class PayloadRedactor:
    """Every PII and secret entity the built-in scanner knows, replaced by typed placeholders."""

    def __init__(self, scanner: PIIScanner | None = None, *, max_chars: int = DEFAULT_BUDGET) -> None:
        self._scanner = scanner or PIIScanner()
        self._max_chars = max_chars

    def __call__(self, messages: Any, output: Any) -> tuple[Any, Any]:
        redactor = Redactor(self._scanner)
        left = self._max_chars

        def walk(node: Any) -> Any:
            nonlocal left
            if isinstance(node, str):
                if len(node) > left:
                    left = 0
                    return f"[not kept: {len(node)} characters past the trace redaction budget]"
                left -= len(node)
                return redactor.redact(node)[0]
            if isinstance(node, dict):
                return {key: walk(value) for key, value in node.items()}
            if isinstance(node, list | tuple):
                return [walk(item) for item in node]
            return node

        return walk(messages), walk(output)
