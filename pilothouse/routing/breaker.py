"""Per-deployment circuit breakers.

closed -> open: after ``consecutive_failures`` failures in a row, or an error rate of at least
``error_rate`` over ``window_seconds`` once ``min_requests`` were seen. open -> half-open after
``cooldown_seconds``: up to ``half_open_probes`` requests go through; a success closes the circuit,
a failure opens it again for another cooldown. Routing skips an open circuit without waiting.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pilothouse.core.traffic import BreakerConfig

State = Literal["closed", "open", "half_open"]


class BreakerBoard(Protocol):
    """The breakers of every deployment (in process, or shared through Redis)."""

    async def allow(self, deployment: str) -> bool: ...

    async def record(self, deployment: str, ok: bool) -> None: ...

    async def state(self, deployment: str) -> State: ...


@dataclass
class _Breaker:
    state: State = "closed"
    consecutive: int = 0
    opened_at: float = 0.0
    probes: int = 0
    # Per-second buckets [second, requests, failures]: the window costs O(seconds), not O(requests).
    buckets: deque[list[int]] = field(default_factory=deque)
    requests: int = 0
    failures: int = 0


class LocalBreakerBoard:
    def __init__(self, config: BreakerConfig) -> None:
        self._config = config
        self._breakers: dict[str, _Breaker] = {}
        self._now = time.monotonic

    def _get(self, deployment: str) -> _Breaker:
        breaker = self._breakers.get(deployment)
        if breaker is None:
            breaker = self._breakers[deployment] = _Breaker()
        if breaker.state == "open" and self._now() - breaker.opened_at >= self._config.cooldown_seconds:
            breaker.state, breaker.probes, breaker.opened_at = "half_open", 0, self._now()
        return breaker

    async def state(self, deployment: str) -> State:
        return self._get(deployment).state

    async def allow(self, deployment: str) -> bool:
        breaker = self._get(deployment)
        if breaker.state == "closed":
            return True
        if breaker.state == "half_open":
            # A probe that never reported back (cancelled) must not wedge the circuit: after another
            # cooldown a fresh probe is allowed.
            now = self._now()
            if (
                breaker.probes < self._config.half_open_probes
                or now - breaker.opened_at >= self._config.cooldown_seconds
            ):
                breaker.probes += 1
                breaker.opened_at = now
                return True
        return False

    async def record(self, deployment: str, ok: bool) -> None:
        cfg = self._config
        breaker = self._get(deployment)
        now = self._now()
        if breaker.state == "half_open":
            if ok:
                self._breakers[deployment] = _Breaker()
            else:
                breaker.state, breaker.opened_at = "open", now
            return
        second = int(now)
        buckets = breaker.buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += 1
            buckets[-1][2] += not ok
        else:
            buckets.append([second, 1, int(not ok)])
        breaker.requests += 1
        breaker.failures += not ok
        while buckets and now - buckets[0][0] > cfg.window_seconds:
            _, requests, failures = buckets.popleft()
            breaker.requests -= requests
            breaker.failures -= failures
        breaker.consecutive = 0 if ok else breaker.consecutive + 1
        rate_tripped = (
            breaker.requests >= cfg.min_requests and breaker.failures / breaker.requests >= cfg.error_rate
        )
        if not ok and (breaker.consecutive >= cfg.consecutive_failures or rate_tripped):
            breaker.state, breaker.opened_at = "open", now
            buckets.clear()
            breaker.requests = breaker.failures = 0
