"""The Redis limit backend against a real redis-server: exact windows across clients (as separate
gateway processes would be), TPM reconciliation, leases that expire when their holder dies, budget
counters, one-time claims, and failing open when Redis is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pilothouse.core.traffic import LimitsConfig, LimitSpec
from pilothouse.limits import AdmissionControl, BudgetSlot, Check, Denial, LimitsGate, RedisBackend
from pilothouse.limits.types import BackendUnavailable, new_lease_id

pytestmark = pytest.mark.integration


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[Redis]]:
    pair = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    yield pair
    for client in pair:
        await client.aclose()


def backends(clients: list[Redis], **options: float) -> list[RedisBackend]:
    return [RedisBackend(c, prefix="t:", **options) for c in clients]  # type: ignore[arg-type]


async def test_burst_across_two_clients_admits_exactly_the_limit(clients: list[Redis]) -> None:
    a, b = backends(clients)
    checks = (Check("key:k", rpm=25), Check("team:t", rpm=1000))
    results = await asyncio.gather(
        *(((a if i % 2 else b).acquire(new_lease_id(), checks, 0, ())) for i in range(200))
    )
    admitted = [d for d in results if d.admitted]
    assert len(admitted) == 25
    refused = [d for d in results if not d.admitted]
    assert all(d.denial == Denial.RPM and d.denied_by == "key:k" for d in refused)
    assert all(d.retry_after is not None and 59 < d.retry_after <= 60 for d in refused)
    assert min(d.requests.remaining for d in admitted if d.requests) == 0
    # The team took exactly the admitted ones: the refusals took nothing (all or nothing).
    team = await a.acquire(new_lease_id(), (Check("team:t", rpm=1000),), 0, ())
    assert team.requests is not None and team.requests.remaining == 1000 - 26


async def test_the_window_slides_on_the_servers_clock(clients: list[Redis]) -> None:
    a, b = backends(clients, window=0.5)
    check = (Check("key:k", rpm=3),)
    assert [(await a.acquire(new_lease_id(), check, 0, ())).admitted for _ in range(4)] == [True] * 3 + [
        False
    ]
    refused = await b.acquire(new_lease_id(), check, 0, ())
    assert refused.retry_after is not None and 0 < refused.retry_after <= 0.5
    await asyncio.sleep(refused.retry_after + 0.01)
    assert (await b.acquire(new_lease_id(), check, 0, ())).admitted


async def test_tpm_reserve_reconcile_and_too_large(clients: list[Redis]) -> None:
    a, b = backends(clients)
    check = (Check("key:k", tpm=1000),)
    first = new_lease_id()
    assert (await a.acquire(first, check, 700, ())).admitted
    refused = await b.acquire(new_lease_id(), check, 400, ())
    assert not refused.admitted and refused.denial == Denial.TPM
    assert refused.tokens is not None and refused.tokens.remaining == 300
    await a.settle(first, check, 700, 100, (), 0)  # the answer used 100 tokens
    second = await b.acquire(new_lease_id(), check, 400, ())
    assert second.admitted and second.tokens is not None and second.tokens.remaining == 500
    too_large = await a.acquire(new_lease_id(), check, 1001, ())
    assert too_large.denial == Denial.TOO_LARGE and too_large.retry_after is None


async def test_all_or_nothing_across_subjects(clients: list[Redis]) -> None:
    a, _ = backends(clients)
    key = Check("key:k", rpm=10, tpm=1000, concurrency=10)
    team = Check("team:t", concurrency=1)
    held = new_lease_id()
    assert (await a.acquire(held, (key, team), 100, ())).admitted
    for _ in range(5):
        refused = await a.acquire(new_lease_id(), (key, team), 100, ())
        assert not refused.admitted and refused.denied_by == "team:t" and refused.denial == Denial.CONCURRENCY
    alone = await a.acquire(new_lease_id(), (key,), 100, ())
    assert alone.requests is not None and alone.requests.remaining == 8  # 2 taken, not 7
    assert alone.tokens is not None and alone.tokens.remaining == 800
    await a.settle(held, (key, team), 100, None, (), 0)
    assert (await a.acquire(new_lease_id(), (key, team), 100, ())).admitted


async def test_a_crashed_holders_lease_expires_a_live_one_is_kept(clients: list[Redis]) -> None:
    live, crashed = backends(clients, lease_ttl=0.6)
    check = (Check("deployment:d", concurrency=2),)
    kept = new_lease_id()
    assert (await live.acquire(kept, check, 0, ())).admitted
    assert (await crashed.acquire(new_lease_id(), check, 0, ())).admitted
    await crashed.aclose()  # stops refreshing, never settles: as if the process died
    assert not (await live.acquire(new_lease_id(), check, 0, ())).admitted
    await asyncio.sleep(0.9)
    # The dead process's slot expired; the live one was refreshed and still counts.
    assert (await live.acquire(new_lease_id(), check, 0, ())).admitted
    assert not (await live.acquire(new_lease_id(), check, 0, ())).admitted
    await live.aclose()


async def test_budget_counters_are_exact_and_checked_atomically(clients: list[Redis]) -> None:
    a, b = backends(clients)
    slot = BudgetSlot("budget:team:qa:day:2025-03-09", limit=10**9, soft=8 * 10**8, expires_at=4102444800)
    await a.seed_spend(slot, 999_999_998)
    await b.seed_spend(slot, 5)  # exists: kept
    assert await a.spent((slot,)) == [999_999_998]
    lease = new_lease_id()
    admitted = await a.acquire(lease, (), 0, (slot,))
    assert admitted.admitted and admitted.spent == (999_999_998,)
    assert await b.settle(lease, (), 0, None, (slot,), 1) == [999_999_999]
    lease = new_lease_id()
    assert (await b.acquire(lease, (Check("key:k", rpm=5),), 0, (slot,))).admitted
    assert await a.settle(lease, (Check("key:k", rpm=5),), 0, None, (slot,), 1) == [10**9]
    refused = await a.acquire(new_lease_id(), (Check("key:k", rpm=5),), 0, (slot,))
    assert not refused.admitted and refused.denial == Denial.BUDGET and refused.denied_by == slot.counter
    # Refused by the budget: the key's RPM log holds only the one admitted request.
    probe = await a.acquire(new_lease_id(), (Check("key:k", rpm=5),), 0, ())
    assert probe.requests is not None and probe.requests.remaining == 3


async def test_claim_once_is_won_by_exactly_one_process(clients: list[Redis]) -> None:
    a, b = backends(clients)
    wins = await asyncio.gather(*((a if i % 2 else b).claim_once("soft:x", 4102444800) for i in range(20)))
    assert wins.count(True) == 1


async def test_gate_over_redis_shares_a_deployments_limit(clients: list[Redis]) -> None:
    a, b = backends(clients)
    spec = {"gpt": LimitSpec(rpm=3)}
    gates = [LimitsGate(a, spec), LimitsGate(b, spec)]
    leases = await asyncio.gather(*(gates[i % 2].try_acquire("gpt", 10) for i in range(10)))
    assert sum(lease is not None for lease in leases) == 3


async def test_admission_fails_open_when_redis_is_down() -> None:
    client = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        backend = RedisBackend(client)
        with pytest.raises(BackendUnavailable):
            await backend.acquire(new_lease_id(), (Check("key:k", rpm=1),), 0, ())
        control = AdmissionControl(backend, LimitsConfig(key_default=LimitSpec(rpm=1)), None)
        plan = control.plan("k", None, "chat", None)
        assert plan is not None
        ticket = await control.admit(plan, 0)
        assert ticket.denial is None and ticket.flags == ["limits_unavailable"]
        assert await ticket.release(None, 0) == []
        assert control.unavailable == 1
    finally:
        await client.aclose()
