"""Build the limits runtime from config: the backend (Redis when configured, else in-process), the
admission control for the chat pipeline, the deployment gate for routing and the load shedder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from pilothouse.core.config import Config
from pilothouse.core.ports import SpendStore
from pilothouse.limits.admission import AdmissionControl
from pilothouse.limits.background import Background
from pilothouse.limits.budgets import BudgetBook
from pilothouse.limits.gate import LimitsGate
from pilothouse.limits.memory import MemoryBackend
from pilothouse.limits.redis_backend import RedisBackend
from pilothouse.limits.shedding import LoadShedder
from pilothouse.limits.types import LimitBackend


@dataclass
class Limits:
    """What the composition root wires: ``control`` into the admission stage (None: no limit or
    budget is configured, so no stage), ``gate`` into routing, ``shedder`` into the gateway app."""

    backend: LimitBackend
    control: AdmissionControl | None
    gate: LimitsGate | None
    shedder: LoadShedder | None
    budgets: BudgetBook | None
    background: Background
    store: SpendStore

    async def start(self) -> None:
        """Seed budgets from the store, once it is connected."""
        await self.backend.start()
        if self.budgets is not None:
            await self.budgets.seed(self.store)

    async def aclose(self) -> None:
        await self.background.aclose()
        await self.backend.aclose()

    def register_metrics(self, gauge: Callable[[str, Callable[[], float]], None]) -> None:
        """Expose the counters (Prometheus gauges read at scrape time; refusals by 429 and 402 are
        already counted from the traces' status)."""
        if self.budgets is not None:
            budgets = self.budgets
            gauge("pilothouse_budget_soft_alerts", lambda: sum(budgets.soft_alerts.values()))
            gauge("pilothouse_budget_hard_stops", lambda: sum(budgets.hard_stops.values()))
            gauge("pilothouse_budget_webhook_failures", lambda: self.background.webhook_failures)
        if self.control is not None:
            control = self.control
            gauge("pilothouse_limits_unchecked_admissions", lambda: control.unavailable)
        if self.shedder is not None:
            shedder = self.shedder
            gauge("pilothouse_requests_shed", lambda: shedder.shed)


def build_limits(
    config: Config, redis: Redis | None, store: SpendStore, *, lease_ttl: float = 30.0
) -> Limits:
    backend: LimitBackend
    if redis is not None:
        prefix = config.redis.key_prefix if config.redis is not None else "pilothouse:"
        backend = RedisBackend(redis, prefix=prefix, lease_ttl=lease_ttl)
    else:
        backend = MemoryBackend()
    background = Background()
    limits = config.limits
    budgets = BudgetBook(config.budgets, backend, background) if config.budgets else None
    wanted = (
        limits.key_default is not None
        or limits.keys
        or limits.teams
        or any(r.limits is not None for r in config.routes)
        or budgets is not None
    )
    control = AdmissionControl(backend, limits, budgets) if wanted else None
    per_deployment = {m.name: m.limits for m in config.models if m.limits is not None}
    gate = LimitsGate(backend, per_deployment) if per_deployment else None
    shedder = LoadShedder(limits.max_inflight) if limits.max_inflight is not None else None
    return Limits(backend, control, gate, shedder, budgets, background, store)
