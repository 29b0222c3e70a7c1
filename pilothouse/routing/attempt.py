"""One provider call's span and bookkeeping (OpenTelemetry GenAI attribute names)."""

from __future__ import annotations

import time
from typing import Any

from pilothouse.core.errors import PilothouseError, ProviderError
from pilothouse.core.ports import TraceRecorder
from pilothouse.routing.route import Deployment

ATTEMPT = "provider.attempt"


class Attempt:
    __slots__ = ("attributes", "dep", "start", "trace")

    def __init__(self, dep: Deployment, trace: TraceRecorder, **attributes: Any) -> None:
        self.dep = dep
        self.trace = trace
        self.start = time.perf_counter()
        self.attributes: dict[str, Any] = {
            "gen_ai.provider.name": dep.provider.name,
            "gen_ai.request.model": dep.model.upstream,
            "pilothouse.deployment": dep.name,
            **attributes,
        }
        trace.fields["attempts"] = trace.fields.get("attempts", 0) + 1

    def usage(self, input_tokens: int, output_tokens: int | None = None) -> None:
        self.attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            self.attributes["gen_ai.usage.output_tokens"] = output_tokens

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def ok(self, **attributes: Any) -> None:
        self.attributes.update(attributes)
        self.trace.add_span(ATTEMPT, self.start, time.perf_counter(), attributes=self.attributes)

    def failed(self, err: PilothouseError | None, **attributes: Any) -> None:
        self.attributes.update(attributes)
        if err is not None:
            self.attributes["error.type"] = err.code
            self.attributes["error.message"] = err.message[:300]
            if isinstance(err, ProviderError) and err.upstream_status is not None:
                self.attributes["http.response.status_code"] = err.upstream_status
        else:
            self.attributes["error.type"] = "cancelled"
        self.trace.add_span(
            ATTEMPT, self.start, time.perf_counter(), status="error", attributes=self.attributes
        )


def skipped(trace: TraceRecorder, dep: Deployment, reason: str) -> None:
    """A deployment routing passed over without calling it (open circuit, no room, too small)."""
    now = time.perf_counter()
    trace.add_span(
        "provider.skipped",
        now,
        now,
        attributes={"pilothouse.deployment": dep.name, "pilothouse.skip_reason": reason},
    )
