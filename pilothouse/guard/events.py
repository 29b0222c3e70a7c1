"""Guard decisions on the trace: one event per guard that found something, a span per side, and
flags for metrics and for the cache (which never stores an answer a guard flagged).

Events carry entity names, spans and scores, never the matched text.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from pilothouse.core.errors import PilothouseError
from pilothouse.core.ports import TraceRecorder
from pilothouse.guard.types import Finding

EVENTS_ATTRIBUTE = "pilothouse.guard.events"
MAX_EVENTS = 100  # per trace: a pathological request must not make its trace huge
MAX_FINDINGS_PER_EVENT = 20


class GuardEvents:
    """Collects one side's (input or output) guard decisions for one request."""

    __slots__ = ("_counts", "_side", "_trace")

    def __init__(self, trace: TraceRecorder, side: str) -> None:
        self._trace = trace
        self._side = side
        self._counts: Counter[str] = Counter()

    def record(
        self, guard: Any, findings: list[Finding], *, direction: str, message: int | None = None
    ) -> None:
        """``guard`` is anything with ``name`` and ``action`` (a compiled ``TextGuard``)."""
        self.add(guard.name, guard.action, findings, direction=direction, message=message)

    def add(
        self,
        name: str,
        action: str,
        findings: list[Finding],
        *,
        direction: str,
        message: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        events: list[dict[str, Any]] = self._trace.attributes.setdefault(EVENTS_ATTRIBUTE, [])
        self._counts[action] += 1
        if action in ("flag", "block", "escalate"):
            self.flag(f"guard_{action}")
        if len(events) >= MAX_EVENTS:
            return
        event: dict[str, Any] = {
            "guard": name,
            "action": action,
            "direction": direction,
            "entities": dict(Counter(f.entity for f in findings)),
            "findings": [f.describe() for f in findings[:MAX_FINDINGS_PER_EVENT]],
        }
        if message is not None:
            event["message"] = message
        if detail:
            event.update(detail)
        events.append(event)

    def flag(self, flag: str) -> None:
        if flag not in self._trace.flags:
            self._trace.flags.append(flag)

    def escalated(self, route: str, safe_route: str) -> None:
        self._trace.attributes["pilothouse.guard.escalated"] = {"from": route, "to": safe_route}
        self.flag("guard_escalate")

    def span(self, start: float, *, error: BaseException | None = None) -> None:
        attributes: dict[str, Any] = {f"pilothouse.guard.{k}": v for k, v in self._counts.items()}
        if isinstance(error, PilothouseError):
            attributes["error.type"] = error.code
        elif error is not None:
            attributes["error.type"] = type(error).__name__
        self._trace.add_span(
            f"guard.{self._side}",
            start,
            time.perf_counter(),
            status="error" if error is not None else "ok",
            attributes=attributes,
        )
