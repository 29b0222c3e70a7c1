"""Which failures a route may fall back on, and which may be retried on the same deployment."""

from __future__ import annotations

from pilothouse.core.errors import (
    PilothouseError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from pilothouse.core.traffic import ErrorClass

# Retrying the same deployment can help with these; never with a request the model refused.
RETRY_SAME: frozenset[ErrorClass] = frozenset(
    {"connection", "timeout", "rate_limit", "server_error", "bad_response"}
)
# Failures that say something about the deployment's health (they move its circuit breaker).
HEALTH: frozenset[ErrorClass] = RETRY_SAME


def classify(err: PilothouseError) -> ErrorClass | None:
    """The error class of a provider failure; None for errors that no other deployment can fix."""
    if isinstance(err, ProviderRejected):
        if err.code == "context_length_exceeded":
            return "context_window"
        if err.code == "content_policy_violation":
            return "content_policy"
        return None
    if isinstance(err, ProviderTimeout):
        return "timeout"
    if isinstance(err, ProviderRateLimited):
        return "rate_limit"
    if isinstance(err, ProviderUnavailable):
        return "connection" if err.upstream_status is None else "server_error"
    if isinstance(err, ProviderBadResponse):
        return "bad_response"
    if isinstance(err, ProviderError):
        return "server_error"
    return None
