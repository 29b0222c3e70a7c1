"""Circuit breakers, in process and shared through a real Redis server: the same rules either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from pilothouse.core.traffic import BreakerConfig
from pilothouse.routing.breaker import BreakerBoard, LocalBreakerBoard
from pilothouse.routing.redis_breaker import RedisBreakerBoard

pytestmark = pytest.mark.integration

CONFIG = BreakerConfig(
    consecutive_failures=3,
    error_rate=0.5,
    window_seconds=30,
    min_requests=6,
    cooldown_seconds=0.4,
    half_open_probes=1,
)
Factory = Callable[[BreakerConfig], BreakerBoard]


@pytest.fixture(params=["local", "redis"])
async def boards(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    if request.param == "local":
        yield LocalBreakerBoard
        return
    url = request.getfixturevalue("redis_url")
    clients: list[Redis] = []

    def make(config: BreakerConfig) -> BreakerBoard:
        client = Redis.from_url(url)
        clients.append(client)
        return RedisBreakerBoard(client, config, prefix="test:")

    yield make
    for client in clients:
        await client.aclose()


async def test_consecutive_failures_open_then_probe_closes(boards: Factory) -> None:
    board = boards(CONFIG)
    for _ in range(2):
        await board.record("d", False)
    assert await board.allow("d")
    await board.record("d", False)  # third in a row
    assert await board.state("d") == "open"
    assert not await board.allow("d")
    await asyncio.sleep(0.45)
    assert await board.state("d") == "half_open"
    assert await board.allow("d")  # the one probe
    assert not await board.allow("d")  # no second probe while it runs
    await board.record("d", True)
    assert await board.state("d") == "closed"
    assert await board.allow("d")


async def test_failed_probe_reopens(boards: Factory) -> None:
    board = boards(CONFIG)
    for _ in range(3):
        await board.record("d", False)
    await asyncio.sleep(0.45)
    assert await board.allow("d")
    await board.record("d", False)
    assert await board.state("d") == "open"
    assert not await board.allow("d")


async def test_error_rate_over_window_opens(boards: Factory) -> None:
    board = boards(CONFIG)
    for ok in (True, False, True, False, True, False):  # never 3 in a row, but 50% of 6
        await board.record("d", ok)
    assert await board.state("d") == "open"


async def test_successes_reset_the_streak(boards: Factory) -> None:
    board = boards(CONFIG.model_copy(update={"min_requests": 100}))
    for _ in range(5):
        await board.record("d", False)
        await board.record("d", False)
        await board.record("d", True)
    assert await board.state("d") == "closed"
    assert await board.state("other") == "closed"


async def test_redis_breaker_state_is_shared_between_processes(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a = RedisBreakerBoard(first, CONFIG, prefix="shared:")
        b = RedisBreakerBoard(second, CONFIG, prefix="shared:")
        await a.record("d", False)
        await b.record("d", False)
        await a.record("d", False)
        assert not await b.allow("d")  # opened by failures seen in two "processes"
        await asyncio.sleep(0.45)
        probes = await asyncio.gather(a.allow("d"), b.allow("d"), a.allow("d"), b.allow("d"))
        assert sum(probes) == 1  # exactly one half-open probe across both
    finally:
        await first.aclose()
        await second.aclose()
