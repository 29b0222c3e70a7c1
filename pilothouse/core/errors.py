"""The one error tree. Every class carries its HTTP status and OpenAI error ``type``/``code``;
the HTTP edge renders ``{"error": {"message", "type", "param", "code"}}`` from it.

    PilothouseError                  500 api_error / internal_error
    ├── InvalidRequest               400 invalid_request_error
    │   ├── MalformedJSON            400 invalid_json
    │   ├── ContextLengthExceeded    400 context_length_exceeded
    │   ├── RequestTooLarge          413 request_too_large
    │   └── ValidationFailed         422 invalid_request
    ├── AuthenticationFailed         401 authentication_error
    ├── PermissionDenied             403 permission_error
    ├── NotFound                     404 not_found_error
    ├── Conflict                     409 conflict (a label moved meanwhile, a release gate refused)
    ├── BudgetExceeded               402 budget_exceeded
    ├── RateLimited                  429 rate_limit_exceeded (carries retry_after and x-ratelimit headers)
    ├── ServiceUnavailable           503 service_unavailable
    ├── ConfigError                  (start-up only: names the key path)
    └── ProviderError                502 upstream_error (carries provider, upstream status, retryable)
        ├── ProviderTimeout          504 upstream_timeout
        ├── ProviderRateLimited      429 upstream_rate_limited
        ├── ProviderUnavailable      503 upstream_unavailable
        ├── ProviderBadResponse      502 upstream_bad_response
        └── ProviderRejected         400 upstream_rejected (the upstream said the request is bad)

Our errors never subclass a vendor SDK's.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class PilothouseError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def headers(self) -> list[tuple[bytes, bytes]]:
        return []


class InvalidRequest(PilothouseError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class MalformedJSON(InvalidRequest):
    code = "invalid_json"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class RequestTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class ValidationFailed(InvalidRequest):
    status = 422


class AuthenticationFailed(PilothouseError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(PilothouseError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(PilothouseError):
    status = 404
    type = "not_found_error"
    code = "not_found"


class Conflict(PilothouseError):
    """The change conflicts with the current state: retrying as is will not help."""

    status = 409
    type = "invalid_request_error"
    code = "conflict"


class BudgetExceeded(PilothouseError):
    status = 402
    type = "insufficient_quota"
    code = "budget_exceeded"


class RateLimited(PilothouseError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        extra_headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.extra_headers = extra_headers or []

    def headers(self) -> list[tuple[bytes, bytes]]:
        out = list(self.extra_headers)
        if self.retry_after is not None:
            out.append((b"retry-after", str(max(1, math.ceil(self.retry_after))).encode()))
        return out


class ServiceUnavailable(PilothouseError):
    status = 503
    type = "api_error"
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after  # load shedding tells clients when to come back

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self.retry_after is None:
            return []
        return [(b"retry-after", str(max(1, math.ceil(self.retry_after))).encode())]


class ConfigError(PilothouseError):
    """Raised at start-up; ``path`` is the dotted key path in pilothouse.yaml (or the file itself)."""

    code = "config_error"

    def __init__(self, message: str, *, path: str = "", source: str = "") -> None:
        where = ", ".join(p for p in (source, path and f"at {path}") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.source = source


class ProviderError(PilothouseError):
    """The upstream failed. ``retryable`` tells routing whether another attempt may help."""

    status = 502
    type = "api_error"
    code = "upstream_error"
    retryable: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        upstream_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after


class ProviderTimeout(ProviderError):
    status = 504
    code = "upstream_timeout"


class ProviderRateLimited(ProviderError):
    status = 429
    type = "rate_limit_error"
    code = "upstream_rate_limited"

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self.retry_after is None:
            return []
        return [(b"retry-after", str(max(1, round(self.retry_after))).encode())]


class ProviderUnavailable(ProviderError):
    status = 503
    code = "upstream_unavailable"


class ProviderBadResponse(ProviderError):
    code = "upstream_bad_response"


class ProviderRejected(ProviderError):
    """The upstream rejected the request itself (4xx): retrying the same request cannot help."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected"
    retryable = False


# How providers word a refusal on policy grounds (OpenAI, Azure content filter, Anthropic).
CONTENT_POLICY_MARKERS = (
    "content_policy",
    "content policy",
    "content management policy",
    "content_filter",
    "safety",
)


def provider_error_for_status(
    status: int, message: str, *, provider: str, retry_after: float | None = None
) -> ProviderError:
    """Classify an upstream HTTP status into the tree (shared by every HTTP provider)."""
    if status == 429:
        return ProviderRateLimited(
            message, provider=provider, upstream_status=status, retry_after=retry_after
        )
    if status in (502, 503, 529):
        return ProviderUnavailable(
            message, provider=provider, upstream_status=status, retry_after=retry_after
        )
    if status in (408, 504):
        return ProviderTimeout(message, provider=provider, upstream_status=status)
    if 400 <= status < 500:
        err = ProviderRejected(message, provider=provider, upstream_status=status)
        lowered = message.lower()
        if "context" in lowered and ("length" in lowered or "window" in lowered):
            err.code = "context_length_exceeded"  # type: ignore[misc]
        elif any(marker in lowered for marker in CONTENT_POLICY_MARKERS):
            err.code = "content_policy_violation"  # type: ignore[misc]
        return err
    return ProviderError(message, provider=provider, upstream_status=status, retry_after=retry_after)
