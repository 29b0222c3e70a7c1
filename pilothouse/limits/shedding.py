"""Load shedding: past ``limits.max_inflight`` requests in flight, the gateway answers 503 with a
``Retry-After`` at once instead of queueing work it cannot finish in time."""

from __future__ import annotations

from pilothouse.core.errors import ServiceUnavailable


class LoadShedder:
    __slots__ = ("max_inflight", "retry_after", "shed")

    def __init__(self, max_inflight: int, *, retry_after: float = 1.0) -> None:
        self.max_inflight = max_inflight
        self.retry_after = retry_after
        self.shed = 0  # requests refused, for /metrics

    def check(self, already_inflight: int) -> None:
        """Raise ``ServiceUnavailable`` when ``already_inflight`` (not counting this request) is at
        the limit."""
        if already_inflight >= self.max_inflight:
            self.shed += 1
            raise ServiceUnavailable(
                f"The gateway is at capacity ({self.max_inflight} requests in flight); retry shortly.",
                retry_after=self.retry_after,
                code="overloaded",
            )
