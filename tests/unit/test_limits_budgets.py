"""Budgets: UTC periods, the hard stop, the overshoot bound under concurrency, soft alerts once per
period, and counters seeded from the store so a restart does not reset them."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pilothouse.core.records import TraceRecord
from pilothouse.core.traffic import BudgetConfig, LimitsConfig
from pilothouse.limits import (
    AdmissionControl,
    BudgetBook,
    MemoryBackend,
    period_bounds,
    period_label,
    to_nanos,
)
from pilothouse.limits.background import Background
from pilothouse.store import SQLiteStore

pytestmark = pytest.mark.unit


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "end", "label"),
    [
        ("day", "2025-03-09T23:59:59.999999", "2025-03-09T00:00", "2025-03-10T00:00", "2025-03-09"),
        ("day", "2024-02-29T00:00", "2024-02-29T00:00", "2024-03-01T00:00", "2024-02-29"),
        ("week", "2025-01-01T12:00", "2024-12-30T00:00", "2025-01-06T00:00", "2025-W01"),
        ("week", "2025-01-05T23:59", "2024-12-30T00:00", "2025-01-06T00:00", "2025-W01"),
        ("week", "2021-01-03T10:00", "2020-12-28T00:00", "2021-01-04T00:00", "2020-W53"),
        ("month", "2025-12-31T23:00", "2025-12-01T00:00", "2026-01-01T00:00", "2025-12"),
        ("month", "2025-02-14T08:00", "2025-02-01T00:00", "2025-03-01T00:00", "2025-02"),
    ],
)
def test_periods_are_utc_calendar_day_iso_week_and_month(
    period: Any, now: str, start: str, end: str, label: str
) -> None:
    got_start, got_end = period_bounds(period, at(now))
    assert (got_start, got_end) == (at(start), at(end))
    assert period_label(period, got_start) == label


def test_periods_convert_other_time_zones_to_utc() -> None:
    tokyo = datetime(2025, 3, 10, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 23:00 UTC the day before
    assert period_bounds("day", tokyo)[0] == at("2025-03-09T00:00")


class Wall:
    def __init__(self, when: str) -> None:
        self.now = at(when).timestamp()

    def __call__(self) -> float:
        return self.now


class RecordingBackground(Background):
    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[str, dict[str, Any]]] = []

    async def post(self, url: str, payload: dict[str, Any]) -> bool:
        self.posts.append((url, payload))
        return True


class Budgets:
    def __init__(self, budgets: list[BudgetConfig], wall: Wall) -> None:
        self.backend = MemoryBackend(wall=wall)
        self.background = RecordingBackground()
        self.book = BudgetBook(budgets, self.backend, self.background, wall=wall)
        self.control = AdmissionControl(self.backend, LimitsConfig(), self.book)

    async def spent(self, *indices: int) -> list[int]:
        return await self.backend.spent(self.book.slots(indices))


async def test_hard_stop_at_the_limit_and_a_new_period_starts_from_zero() -> None:
    wall = Wall("2025-03-09T22:00")
    budget = BudgetConfig(scope="team", name="qa", period="day", limit_usd=Decimal("0.30"))
    control = Budgets([budget], wall).control
    plan = control.plan("alice", "qa", "chat", None)
    assert plan is not None and plan.budgets == (0,)
    for _ in range(3):
        ticket = await control.admit(plan, 0)
        assert ticket.denial is None
        await ticket.release(None, to_nanos(Decimal("0.10")))
    refused = await control.admit(plan, 0)  # spent == limit: stop
    assert refused.denial is not None and refused.denial.status == 402
    assert refused.denial.code == "budget_exceeded"
    assert "daily budget of team 'qa'" in refused.denial.message
    assert "2025-03-10 00:00 UTC" in refused.denial.message
    assert refused.attributes()["pilothouse.limits.outcome"] == "budget"
    assert control.plan("bob", "other", "chat", None) is None  # another team's requests are not affected
    wall.now = at("2025-03-10T00:00").timestamp()
    assert (await control.admit(plan, 0)).denial is None


async def test_spend_one_nano_below_the_limit_still_admits() -> None:
    control = Budgets(
        [BudgetConfig(scope="key", name="k", limit_usd=Decimal(1))], Wall("2025-03-09T12:00")
    ).control
    plan = control.plan("k", None, "chat", None)
    assert plan is not None
    ticket = await control.admit(plan, 0)
    await ticket.release(None, 999_999_999)
    ticket = await control.admit(plan, 0)
    assert ticket.denial is None
    await ticket.release(None, 1)
    assert (await control.admit(plan, 0)).denial is not None


class Simulation:
    """Concurrent requests with random arrival, duration and cost against one hard budget."""

    def __init__(self, seed: int, limit: int) -> None:
        self.rng = random.Random(seed)
        self.limit = limit
        budget = BudgetConfig(scope="route", name="chat", limit_usd=Decimal(limit) / 10**9)
        self.budgets = Budgets([budget], Wall("2025-03-09T12:00"))
        self.in_flight: dict[int, int] = {}
        self.spent = 0
        self.bound: int | None = None  # limit + cost in flight when the recorded spend reached it
        self.admitted = 0

    async def request(self, i: int, cost: int, delay: float) -> None:
        await asyncio.sleep(self.rng.random() * 0.02)  # arrivals spread out
        plan = self.budgets.control.plan("k", None, "chat", None)
        assert plan is not None
        ticket = await self.budgets.control.admit(plan, 0)
        if ticket.denial is not None:
            assert ticket.denial.status == 402
            return
        self.admitted += 1
        self.in_flight[i] = cost
        await asyncio.sleep(delay)
        await ticket.release(None, cost)
        if self.bound is None and self.spent + cost >= self.limit:
            self.bound = self.limit + sum(self.in_flight.values())  # the crossing one included
        self.spent += cost
        del self.in_flight[i]

    async def run(self, n: int) -> None:
        rng = self.rng
        await asyncio.gather(
            *(self.request(i, rng.randint(10**7, 2 * 10**8), rng.random() * 0.01) for i in range(n))
        )


@pytest.mark.parametrize("seed", range(20))
async def test_overshoot_never_exceeds_the_cost_in_flight_when_the_limit_was_reached(seed: int) -> None:
    """The final spend stays below limit + the costs of the requests in flight at the moment the
    recorded spend reached the limit (budgets.py states the bound)."""
    sim = Simulation(seed, limit=10**9)
    await sim.run(60)
    assert sim.bound is not None, "the budget should have been reached"
    assert sim.limit <= sim.spent < sim.bound
    assert sim.admitted < 60  # the stop refused the rest
    assert await sim.budgets.spent(0) == [sim.spent]


async def test_soft_threshold_flags_and_alerts_once_per_period() -> None:
    wall = Wall("2025-03-09T12:00")
    budget = BudgetConfig(
        scope="key", name="k", period="day", limit_usd=Decimal(10), soft_threshold=0.5, webhook="http://hook"
    )
    budgets = Budgets([budget], wall)
    control, book, background = budgets.control, budgets.book, budgets.background
    plan = control.plan("k", None, "chat", None)
    assert plan is not None
    first = await control.admit(plan, 0)
    assert first.flags == []
    assert await first.release(None, to_nanos(Decimal(5))) == ["budget_soft_limit"]  # crossed here
    for _ in range(3):
        ticket = await control.admit(plan, 0)
        assert ticket.flags == ["budget_soft_limit"]
        await ticket.release(None, to_nanos(Decimal("0.1")))
    await background.aclose()
    assert len(background.posts) == 1
    url, payload = background.posts[0]
    assert url == "http://hook"
    assert payload["event"] == "budget.soft_threshold"
    assert (payload["scope"], payload["name"], payload["period"]) == ("key", "k", "day")
    assert payload["spent_usd"] == "5" and payload["limit_usd"] == "10"
    assert payload["period_start"] == "2025-03-09T00:00:00+00:00"
    assert book.soft_alerts == {"key:k:day": 1}
    # The next day is a new period: it alerts again once crossed.
    wall.now += 86_400
    ticket = await control.admit(plan, 0)
    assert ticket.flags == []
    await ticket.release(None, to_nanos(Decimal(6)))
    await background.aclose()
    assert len(background.posts) == 2 and book.soft_alerts == {"key:k:day": 2}


async def test_budgets_are_seeded_from_stored_traces(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "ph.db"))
    try:
        alice = await store.create_key(
            name="alice", key_hash="h1", prefix="p1", team="qa", scopes=["chat"], models=None, expires_at=None
        )
        bob = await store.create_key(
            name="bob", key_hash="h2", prefix="p2", team="qa", scopes=["chat"], models=None, expires_at=None
        )
        now = datetime(2025, 3, 9, 12, tzinfo=UTC)

        def trace(key: Any, cost: str, when: datetime, route: str = "chat") -> TraceRecord:
            return TraceRecord(
                trace_id=f"t{when.timestamp()}{key.key_id}{cost}",
                created_at=when,
                endpoint="chat.completions",
                key_id=key.key_id,
                team_id=key.team_id,
                route=route,
                cost_usd=Decimal(cost),
            )

        await store.write_traces(
            [
                trace(alice, "0.000000001", now - timedelta(hours=1)),
                trace(alice, "1.5", now - timedelta(hours=11, minutes=59)),  # today, just
                trace(alice, "100", now - timedelta(hours=12, microseconds=1)),  # yesterday: not counted
                trace(bob, "2.25", now - timedelta(minutes=5), route="other"),
            ]
        )
        wall = Wall("2025-03-09T12:00")
        budgets = [
            BudgetConfig(scope="key", name="alice", period="day", limit_usd=Decimal(10)),
            BudgetConfig(scope="team", name="qa", period="day", limit_usd=Decimal(10)),
            BudgetConfig(scope="route", name="chat", period="month", limit_usd=Decimal(1000)),
        ]
        book = Budgets(budgets, wall)
        await book.book.seed(store)
        assert await book.spent(0, 1, 2) == [1_500_000_001, 3_750_000_001, 101_500_000_001]
        # A counter that already exists (another process, or Redis across a restart) is kept.
        await book.backend.seed_spend(book.book.slots((0,))[0], 7)
        assert await book.spent(0) == [1_500_000_001]
        report = await store.spend_report(by="team", since=at("2025-03-09T00:00"))
        assert [(r.group, r.requests, r.cost_nanousd) for r in report] == [("qa", 3, 3_750_000_001)]
        by_key = await store.spend_report(by="key")
        assert [(r.group, r.cost_nanousd) for r in by_key] == [
            ("alice (p1)", 101_500_000_001),
            ("bob (p2)", 2_250_000_000),
        ]
        by_route = await store.spend_report(by="route", until=at("2025-03-09T00:00"))
        assert [(r.group, r.cost_nanousd) for r in by_route] == [("chat", 100_000_000_000)]
    finally:
        store.close()
