"""Budgets: money per key, team or route per UTC day, ISO week or calendar month.

The hard stop is checked before the call (spend >= limit refuses with 402) and the cost is added
after it, so requests admitted while the budget still had room finish and are billed. The overshoot
is therefore bounded: once the recorded spend S reaches the limit L no request is admitted, so every
cost added afterwards belongs to a request already in flight at that moment, and the request whose
cost crossed L found S < L. Hence

    final spend  <  L + (sum of the costs of the requests in flight when the limit was reached)

(the crossing request counted among them). Reserving an estimate up front would tighten it further
but refuse requests that would have fitted; the bound is what the tests check.

Soft threshold: the trace gets the ``budget_soft_limit`` flag once spend is at or past
``soft_threshold * limit``; the webhook is POSTed at most once per budget and period across all
processes (a claim in the shared backend), in the background.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pilothouse.core.errors import BudgetExceeded
from pilothouse.core.ports import SpendStore
from pilothouse.core.traffic import BudgetConfig
from pilothouse.limits.background import Background
from pilothouse.limits.periods import period_bounds, period_label
from pilothouse.limits.types import BudgetSlot, LimitBackend

log = logging.getLogger("pilothouse.limits")
NANO = Decimal(1_000_000_000)
GRACE = timedelta(days=1)  # a counter outlives its period: late settlements still land in it
SOFT_FLAG = "budget_soft_limit"
_ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


def to_nanos(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value())


def usd(nanos: int) -> Decimal:
    return (Decimal(nanos) / NANO).normalize()


class _Current:
    __slots__ = ("end", "slot", "start")

    def __init__(self, start: datetime, end: datetime, slot: BudgetSlot) -> None:
        self.start = start
        self.end = end.timestamp()
        self.slot = slot


class BudgetBook:
    def __init__(
        self,
        configs: Sequence[BudgetConfig],
        backend: LimitBackend,
        background: Background,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.configs = list(configs)
        self._backend = backend
        self._background = background
        self._wall = wall
        self._current: list[_Current | None] = [None] * len(self.configs)
        self._notified: set[str] = set()
        # For /metrics: soft-threshold crossings (one per budget and period, across processes) and
        # requests refused by a hard stop, by "scope:name:period".
        self.soft_alerts: Counter[str] = Counter()
        self.hard_stops: Counter[str] = Counter()

    def applicable(self, key: str, team: str | None, route: str) -> tuple[int, ...]:
        names = {"key": key, "team": team, "route": route}
        return tuple(i for i, b in enumerate(self.configs) if names[b.scope] == b.name)

    def _now_current(self, i: int, now: float) -> _Current:
        current = self._current[i]
        if current is None or now >= current.end:
            b = self.configs[i]
            start, end = period_bounds(b.period, datetime.fromtimestamp(now, UTC))
            limit = to_nanos(b.limit_usd)
            slot = BudgetSlot(
                counter=f"budget:{b.scope}:{b.name}:{b.period}:{period_label(b.period, start)}",
                limit=limit,
                soft=int(limit * b.soft_threshold),
                expires_at=(end + GRACE).timestamp(),
            )
            current = self._current[i] = _Current(start, end, slot)
        return current

    def slots(self, indices: tuple[int, ...]) -> tuple[BudgetSlot, ...]:
        now = self._wall()
        return tuple(self._now_current(i, now).slot for i in indices)

    def exceeded(
        self, indices: tuple[int, ...], slots: tuple[BudgetSlot, ...], counter: str
    ) -> BudgetExceeded:
        i = next(i for i, s in zip(indices, slots, strict=True) if s.counter == counter)
        b = self.configs[i]
        self.hard_stops[f"{b.scope}:{b.name}:{b.period}"] += 1
        reset = datetime.fromtimestamp(self._now_current(i, self._wall()).end, UTC)
        return BudgetExceeded(
            f"The {_ADJECTIVE[b.period]} budget of {b.scope} '{b.name}' (${b.limit_usd}) is used up; "
            f"it resets at {reset:%Y-%m-%d %H:%M} UTC."
        )

    def observe(self, indices: tuple[int, ...], slots: tuple[BudgetSlot, ...], spent: Sequence[int]) -> bool:
        """True if any budget is at or past its soft threshold; alerts once per budget and period."""
        soft = False
        for i, slot, value in zip(indices, slots, spent, strict=True):
            if value < slot.soft:
                continue
            soft = True
            if slot.counter not in self._notified:
                self._notified.add(slot.counter)
                self._background.spawn(self._alert(i, slot, value))
        return soft

    async def _alert(self, i: int, slot: BudgetSlot, spent: int) -> None:
        if not await self._backend.claim_once(slot.counter + ":soft", slot.expires_at):
            return  # another process (or an earlier run) already alerted for this period
        b = self.configs[i]
        self.soft_alerts[f"{b.scope}:{b.name}:{b.period}"] += 1
        log.warning(
            "budget %s '%s' passed %.0f%% of $%s", b.scope, b.name, b.soft_threshold * 100, b.limit_usd
        )
        if b.webhook:
            start = self._now_current(i, self._wall()).start
            await self._background.post(
                b.webhook,
                {
                    "event": "budget.soft_threshold",
                    "scope": b.scope,
                    "name": b.name,
                    "period": b.period,
                    "period_start": start.isoformat(),
                    "limit_usd": str(b.limit_usd),
                    "soft_threshold": b.soft_threshold,
                    "spent_usd": str(usd(spent)),
                },
            )

    async def seed(self, store: SpendStore) -> None:
        """Start each budget's current period from the stored traces, unless the shared backend
        already holds the counter (another process, or Redis surviving the restart)."""
        now = self._wall()
        for i, b in enumerate(self.configs):
            current = self._now_current(i, now)
            nanos = await store.spend_since(b.scope, b.name, current.start)
            await self._backend.seed_spend(current.slot, nanos)
