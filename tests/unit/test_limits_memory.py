"""The in-process limit backend: exact sliding windows, TPM reconciliation, concurrency, and taking
all of a request's limits or none."""

from __future__ import annotations

import asyncio

import pytest

from pilothouse.core.traffic import LimitsConfig, LimitSpec
from pilothouse.limits import (
    AdmissionControl,
    Check,
    Denial,
    MemoryBackend,
    format_duration,
    ratelimit_headers,
)
from pilothouse.limits.types import Window, new_lease_id
from tests.clock import Clock

pytestmark = pytest.mark.unit


@pytest.fixture
def backend(clock: Clock) -> MemoryBackend:
    return MemoryBackend(clock=clock)


async def take(backend: MemoryBackend, *checks: Check, tokens: int = 0) -> tuple[bool, str]:
    lease = new_lease_id()
    decision = await backend.acquire(lease, checks, tokens, ())
    return decision.admitted, lease


async def test_rpm_burst_admits_exactly_the_limit(backend: MemoryBackend) -> None:
    check = Check("key:a", rpm=7)
    results = await asyncio.gather(*(backend.acquire(new_lease_id(), (check,), 0, ()) for _ in range(50)))
    admitted = [d for d in results if d.admitted]
    denied = [d for d in results if not d.admitted]
    assert len(admitted) == 7
    assert all(d.denial == Denial.RPM and d.denied_by == "key:a" for d in denied)
    assert all(d.retry_after == pytest.approx(60.0) for d in denied)
    assert admitted[-1].requests == Window(limit=7, remaining=0, reset=60.0)


async def test_rpm_window_slides(backend: MemoryBackend, clock: Clock) -> None:
    check = Check("key:a", rpm=5)
    for _ in range(3):
        assert (await take(backend, check))[0]
    clock.now += 30
    for _ in range(2):
        assert (await take(backend, check))[0]
    assert not (await take(backend, check))[0]
    clock.now += 29.999  # the first three are 59.999 s old: still counted
    denied = await backend.acquire(new_lease_id(), (check,), 0, ())
    assert not denied.admitted and denied.retry_after == pytest.approx(0.001)
    clock.now += 0.001  # now exactly 60 s old: out of the window
    assert [(await take(backend, check))[0] for _ in range(4)] == [True, True, True, False]
    clock.now += 30  # the two from t=30 leave too
    assert [(await take(backend, check))[0] for _ in range(3)] == [True, True, False]


async def test_tpm_reserves_then_reconciles_to_actual_usage(backend: MemoryBackend, clock: Clock) -> None:
    check = Check("key:a", tpm=100)
    ok, first = await take(backend, check, tokens=60)
    assert ok
    denied = await backend.acquire(new_lease_id(), (check,), 50, ())
    assert not denied.admitted and denied.denial == Denial.TPM
    assert denied.retry_after == pytest.approx(60.0)  # when the 60-token reservation leaves
    assert denied.tokens == Window(limit=100, remaining=40, reset=60.0)
    await backend.settle(first, (check,), 60, 20, (), 0)  # the answer used only 20
    ok, second = await take(backend, check, tokens=50)
    assert ok
    await backend.settle(second, (check,), 50, 75, (), 0)  # this one used more than reserved
    denied = await backend.acquire(new_lease_id(), (check,), 10, ())
    assert not denied.admitted and denied.tokens is not None and denied.tokens.remaining == 5
    clock.now += 60
    assert (await take(backend, check, tokens=100))[0]


async def test_tpm_usage_reported_after_the_window_counts_the_excess_anew(
    backend: MemoryBackend, clock: Clock
) -> None:
    check = Check("key:a", tpm=100)
    _, lease = await take(backend, check, tokens=30)
    clock.now += 61  # a long stream: its reservation has left the window
    assert (await take(backend, check, tokens=10))[0]
    await backend.settle(lease, (check,), 30, 80, (), 0)  # 50 more than reserved, counted now
    denied = await backend.acquire(new_lease_id(), (check,), 41, ())
    assert not denied.admitted and denied.tokens is not None and denied.tokens.remaining == 40


async def test_a_request_larger_than_the_tpm_limit_is_refused_without_retry_after(
    backend: MemoryBackend,
) -> None:
    decision = await backend.acquire(new_lease_id(), (Check("key:a", rpm=10, tpm=100),), 101, ())
    assert not decision.admitted
    assert decision.denial == Denial.TOO_LARGE and decision.retry_after is None


async def test_concurrency_slots_free_on_settle(backend: MemoryBackend) -> None:
    check = Check("team:t", concurrency=2)
    ok1, a = await take(backend, check)
    ok2, _ = await take(backend, check)
    third = await backend.acquire(new_lease_id(), (check,), 0, ())
    assert ok1 and ok2 and not third.admitted and third.denial == Denial.CONCURRENCY
    assert third.retry_after == 1.0
    await backend.settle(a, (check,), 0, None, (), 0)
    await backend.settle(a, (check,), 0, None, (), 0)  # a second settle of one lease frees nothing more
    assert (await take(backend, check))[0]
    assert not (await take(backend, check))[0]


async def test_all_or_nothing_a_team_refusal_leaves_the_key_quota_untouched(backend: MemoryBackend) -> None:
    key = Check("key:a", rpm=3, concurrency=5)
    team = Check("team:t", rpm=2)
    assert (await take(backend, key, team))[0]
    assert (await take(backend, key, team))[0]
    for _ in range(5):
        refused = await backend.acquire(new_lease_id(), (key, team), 0, ())
        assert not refused.admitted and refused.denied_by == "team:t"
    # The key used 2 of 3 and holds 2 of 5 slots: the refusals took nothing.
    alone = await backend.acquire(new_lease_id(), (key,), 0, ())
    assert alone.admitted and alone.requests == Window(limit=3, remaining=0, reset=60.0)
    assert not (await take(backend, key))[0]


async def test_refused_requests_do_not_extend_the_window(backend: MemoryBackend, clock: Clock) -> None:
    check = Check("key:a", rpm=1)
    assert (await take(backend, check))[0]
    for _ in range(10):
        clock.now += 5
        assert not (await take(backend, check))[0]
    clock.now += 10  # 60 s after the one admitted request
    assert (await take(backend, check))[0]


async def test_admission_plans_pick_key_team_and_route_limits() -> None:
    limits = LimitsConfig(
        key_default=LimitSpec(rpm=100),
        keys={"vip": LimitSpec(rpm=1000, tpm=50_000)},
        teams={"qa": LimitSpec(max_concurrency=4)},
    )
    control = AdmissionControl(MemoryBackend(), limits, None)
    plan = control.plan("someone", "qa", "chat", LimitSpec(rpm=10))
    assert plan is not None
    assert plan.checks == (
        Check("key:someone", rpm=100),
        Check("team:qa", concurrency=4),
        Check("route:chat", rpm=10),
    )
    assert not plan.counts_tokens
    vip = control.plan("vip", None, "chat", None)
    assert vip is not None and vip.checks == (Check("key:vip", rpm=1000, tpm=50_000),) and vip.counts_tokens
    assert control.plan("vip", None, "chat", None) is vip  # cached
    nothing = AdmissionControl(MemoryBackend(), LimitsConfig(), None)
    assert nothing.plan("someone", "qa", "chat", None) is None


async def test_rate_limited_error_names_the_limit_and_carries_headers() -> None:
    control = AdmissionControl(MemoryBackend(), LimitsConfig(keys={"k": LimitSpec(rpm=1, tpm=1000)}), None)
    plan = control.plan("k", None, "chat", None)
    assert plan is not None
    admitted = await control.admit(plan, 100)
    assert admitted.denial is None
    assert dict(admitted.headers()) == {
        b"x-ratelimit-limit-requests": b"1",
        b"x-ratelimit-remaining-requests": b"0",
        b"x-ratelimit-reset-requests": b"1m0s",
        b"x-ratelimit-limit-tokens": b"1000",
        b"x-ratelimit-remaining-tokens": b"900",
        b"x-ratelimit-reset-tokens": b"1m0s",
    }
    refused = await control.admit(plan, 100)
    err = refused.denial
    assert err is not None and err.status == 429
    assert "key 'k'" in err.message and "requests per minute" in err.message
    headers = dict(err.headers())
    assert headers[b"retry-after"] == b"60"
    assert headers[b"x-ratelimit-remaining-requests"] == b"0"
    assert refused.attributes()["pilothouse.limits.outcome"] == "rpm"
    assert refused.attributes()["pilothouse.limits.denied_by"] == "key:k"
    too_big = await control.admit(plan, 5000)
    assert too_big.denial is not None and too_big.denial.code == "tokens_exceed_limit"


def test_durations_and_headers_read_like_openai() -> None:
    assert format_duration(0.0204) == "20ms"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(8.64) == "8.64s"
    assert format_duration(60) == "1m0s"
    assert format_duration(359.6) == "6m0s"
    assert format_duration(59.9996) == "1m0s"
    assert ratelimit_headers(None, None) == []
