"""Stored records as versioned pydantic schemas: traces with their spans, keys and teams."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TRACE_SCHEMA_VERSION = 1


class SpanRecord(BaseModel):
    """One timed step of a request (auth, provider attempt, stream, ...).

    ``start_ms`` is the offset from the trace start so a trace reads as a waterfall.
    """

    model_config = ConfigDict(extra="forbid")
    span_id: str
    name: str
    start_ms: float
    duration_ms: float
    status: Literal["ok", "error"] = "ok"
    attributes: dict[str, Any] = Field(default_factory=dict)


class TraceRecord(BaseModel):
    """Everything needed to reconstruct one request."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int = TRACE_SCHEMA_VERSION
    trace_id: str
    created_at: datetime
    endpoint: str
    key_id: str | None = None
    team_id: str | None = None
    requested_model: str | None = None
    served_model: str | None = None
    provider: str | None = None
    stream: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    messages: Any = None
    output: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: Literal["ok", "error"] = "ok"
    http_status: int = 200
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    config_hash: str | None = None
    route: str | None = None
    attempts: int = 0
    cache: Literal["hit_exact", "hit_semantic", "miss", "bypass"] | None = None
    cost_saved_usd: Decimal = Decimal(0)
    prompt: str | None = Field(None, description="registry prompt the messages were rendered from")
    prompt_version: int | None = None
    prompt_label: str | None = Field(None, description="label the reference named, if any")
    flags: list[str] = Field(default_factory=list, description="e.g. budget_soft_limit, escalated")
    attributes: dict[str, Any] = Field(default_factory=dict, description="stage-specific details")
    spans: list[SpanRecord] = Field(default_factory=list)


class TeamRecord(BaseModel):
    team_id: str
    name: str
    created_at: datetime


class KeyRecord(BaseModel):
    """A virtual key as stored: never the secret, only its hash and a display prefix."""

    key_id: str
    name: str
    key_hash: str
    prefix: str
    team_id: str | None = None
    team_name: str | None = None
    scopes: list[str] = Field(default_factory=list)
    models: list[str] | None = None
    tools: list[str] | None = Field(None, description="tools the key may have called; None: any")
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """The shape shown by the API and CLI: no hash."""
        return self.model_dump(mode="json", exclude={"key_hash"})


class PromptVersionRecord(BaseModel):
    """One immutable version of a registry prompt; ``spec`` is the prompt's canonical JSON document."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: int
    content_hash: str
    spec: dict[str, Any]
    created_at: datetime
    created_by: str
    why: str = ""


class PromptLabelRecord(BaseModel):
    """A label (``production``, ``staging``, any name) and the version it points at."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    label: str
    version: int
    updated_at: datetime
    updated_by: str


PromptEventKind = Literal["push", "promote", "rollback"]


class PromptEventRecord(BaseModel):
    """One entry of the registry's append-only change log: who did what, when and why.

    ``seq`` orders events; ``from_version`` is the label's holder before a promote or rollback.
    ``forced`` marks a production promotion made without a passing release gate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    seq: int
    event_id: str
    at: datetime
    name: str
    kind: PromptEventKind
    version: int
    label: str | None = None
    from_version: int | None = None
    who: str
    why: str = ""
    forced: bool = False
