"""Config schema for traffic control: routes and their resilience, limits, budgets, caching, breakers
and the shared Redis state. Parsed strictly like the rest of ``pilothouse.yaml``."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.core.json_schema import JSONSchema

# Error classes a route may fall back on (routing maps provider errors onto them).
ErrorClass = Literal[
    "connection", "timeout", "rate_limit", "server_error", "context_window", "content_policy", "bad_response"
]
ALL_ERROR_CLASSES: list[ErrorClass] = [
    "connection",
    "timeout",
    "rate_limit",
    "server_error",
    "context_window",
    "content_policy",
    "bad_response",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LimitSpec(Strict):
    """Admission limits for one key, team, route or deployment; ``None`` means unlimited."""

    rpm: int | None = Field(None, ge=1, description="requests per minute (sliding window)")
    tpm: int | None = Field(
        None, ge=1, description="tokens per minute: prompt estimate up front, reconciled after"
    )
    max_concurrency: int | None = Field(None, ge=1, description="requests in flight at once")


class RetryConfig(Strict):
    attempts: int = Field(2, ge=1, le=10, description="tries per deployment before falling back")
    backoff_ms: float = Field(100.0, ge=0, description="first backoff; doubles each retry (full jitter)")
    max_backoff_ms: float = Field(2000.0, ge=0)


class CascadeConfig(Strict):
    """When the cheaper tier's answer is not acceptable, escalate to the next tier."""

    json_valid: bool = False
    json_schema: JSONSchema | None = None
    regex: str | None = None
    non_empty: bool = True
    not_truncated: bool = True
    min_mean_logprob: float | None = Field(None, le=0, description="needs a provider that returns logprobs")


class CacheConfig(Strict):
    exact: bool = True
    semantic: bool = False
    semantic_threshold: float = Field(0.95, gt=0, le=1, description="cosine similarity for a semantic hit")
    embedding_model: str | None = Field(None, description="an embedding model name; default: the first one")
    ttl_seconds: int = Field(3600, ge=1)
    nonzero_temperature: bool = Field(False, description="also cache answers sampled at temperature > 0")


class RouteConfig(Strict):
    """A public model name served by one or more deployments (entries of ``models``)."""

    name: str = Field(min_length=1)
    strategy: Literal["ordered", "weighted", "latency", "cost", "cascade"] = "ordered"
    deployments: list[str] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list, description="tried in order after the deployments")
    fallback_on: list[ErrorClass] = Field(default_factory=lambda: list(ALL_ERROR_CLASSES))
    retry: RetryConfig = RetryConfig()
    deadline: float = Field(60.0, gt=0, description="seconds for the whole request, across attempts")
    ttft_timeout: float | None = Field(None, gt=0, description="fail over when the first token is this late")
    stream_idle_timeout: float = Field(30.0, gt=0, description="a stream silent this long has stalled")
    cascade: CascadeConfig | None = None
    cache: CacheConfig | None = None
    limits: LimitSpec | None = None


class LimitsConfig(Strict):
    key_default: LimitSpec | None = Field(None, description="for every key without its own entry")
    keys: dict[str, LimitSpec] = Field(default_factory=dict, description="by key name")
    teams: dict[str, LimitSpec] = Field(default_factory=dict, description="by team name")
    max_inflight: int | None = Field(None, ge=1, description="gateway-wide: beyond it, shed load with 503")


class BudgetConfig(Strict):
    scope: Literal["key", "team", "route"]
    name: str = Field(description="key name, team name or route name")
    period: Literal["day", "week", "month"] = "month"
    limit_usd: Decimal = Field(gt=0)
    soft_threshold: float = Field(0.8, gt=0, le=1, description="share of the limit that flags and notifies")
    webhook: str | None = Field(None, description="POSTed once per period when the soft threshold is crossed")


class BreakerConfig(Strict):
    consecutive_failures: int = Field(5, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    window_seconds: float = Field(30.0, gt=0)
    min_requests: int = Field(20, ge=1, description="error rate counts only past this many requests")
    cooldown_seconds: float = Field(30.0, gt=0)
    half_open_probes: int = Field(1, ge=1)


class RedisConfig(Strict):
    url: str = Field(
        description="redis://host:port/db; limits, budgets, breakers and cache are shared through it"
    )
    key_prefix: str = "pilothouse:"
    timeout_seconds: float = Field(
        1.0, gt=0, description="per Redis call; past it limits fail open, cache misses"
    )
