"""Collects one request's fields and spans while it runs; ``finish`` turns them into a record."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pilothouse.core.errors import PilothouseError
from pilothouse.core.ids import new_id, new_span_id
from pilothouse.core.records import SpanRecord, TraceRecord
from pilothouse.core.types import Usage

PayloadPolicy = Literal["full", "redacted", "none"]


class TraceBuilder:
    """Mutable on the request path; cheap to create (no validation until ``finish``)."""

    __slots__ = (
        "_start",
        "attributes",
        "cost_usd",
        "created_at",
        "endpoint",
        "error",
        "fields",
        "flags",
        "http_status",
        "messages",
        "output",
        "spans",
        "store_payloads",
        "trace_id",
        "ttft_ms",
        "usage",
    )

    def __init__(self, endpoint: str) -> None:
        self.trace_id = new_id()
        self.endpoint = endpoint
        self.created_at = datetime.now(UTC)
        self._start = time.perf_counter()
        self.spans: list[SpanRecord] = []
        self.fields: dict[str, Any] = {}
        self.messages: Any = None
        self.output: Any = None
        self.usage = Usage()
        self.cost_usd = Decimal(0)
        self.ttft_ms: float | None = None
        self.http_status = 200
        self.error: PilothouseError | None = None
        self.flags: list[str] = []
        self.attributes: dict[str, Any] = {}
        self.store_payloads: PayloadPolicy | None = None  # a guard policy's rule, over the global one

    def elapsed_ms(self, at: float | None = None) -> float:
        return ((time.perf_counter() if at is None else at) - self._start) * 1000.0

    def add_span(
        self,
        name: str,
        start: float,
        end: float,
        *,
        status: str = "ok",
        attributes: dict[str, Any] | None = None,
    ) -> None:
        """``start`` and ``end`` are ``time.perf_counter()`` readings."""
        self.spans.append(
            SpanRecord.model_construct(
                span_id=new_span_id(),
                name=name,
                start_ms=round(self.elapsed_ms(start), 3),
                duration_ms=round((end - start) * 1000.0, 3),
                status="error" if status == "error" else "ok",
                attributes=attributes or {},
            )
        )

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round(self.elapsed_ms(), 3)

    def fail(self, error: PilothouseError) -> None:
        self.error = error
        self.http_status = error.status

    def finish(
        self,
        *,
        store_payloads: PayloadPolicy = "full",
        config_hash: str | None = None,
        redact: Callable[[Any, Any], tuple[Any, Any]] | None = None,
    ) -> TraceRecord:
        """``redact`` rewrites (messages, output) for the ``redacted`` policy; without one, that
        policy keeps no payload at all (nothing raw is ever stored by mistake)."""
        err = self.error
        policy = self.store_payloads or store_payloads
        messages, output = (self.messages, self.output) if policy == "full" else (None, None)
        if policy == "redacted" and redact is not None:
            messages, output = redact(self.messages, self.output)
        return TraceRecord.model_construct(
            trace_id=self.trace_id,
            created_at=self.created_at,
            endpoint=self.endpoint,
            messages=messages,
            output=output,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            cached_tokens=self.usage.cached_tokens,
            cost_usd=self.cost_usd,
            latency_ms=round(self.elapsed_ms(), 3),
            ttft_ms=self.ttft_ms,
            status="error" if err is not None else "ok",
            http_status=self.http_status,
            error_type=err.type if err else None,
            error_code=err.code if err else None,
            error_message=err.message if err else None,
            config_hash=config_hash,
            spans=self.spans,
            flags=self.flags,
            attributes=self.attributes,
            **{**_DEFAULTS, **self.fields},
        )


# Optional fields a stage may set through ``builder.fields``.
_DEFAULTS: dict[str, Any] = {
    "schema_version": 1,
    "key_id": None,
    "team_id": None,
    "requested_model": None,
    "served_model": None,
    "provider": None,
    "stream": False,
    "params": {},
    "finish_reason": None,
    "route": None,
    "attempts": 0,
    "cache": None,
    "cost_saved_usd": Decimal(0),
    "prompt": None,
    "prompt_version": None,
    "prompt_label": None,
}
