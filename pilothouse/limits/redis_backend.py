"""Limits shared by every gateway process through Redis: one script call (EVALSHA) per admission and
one per settlement, each atomic on the server (see ``lua.py``), so there is no read-modify-write
race between processes and an RPM limit admits exactly ``rpm`` requests per window.

Concurrency leases carry an expiry (``lease_ttl``) that a background task extends while the lease
is held, so a crashed process frees its slots within ``lease_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pilothouse.limits.lua import ACQUIRE, REFRESH, SETTLE
from pilothouse.limits.types import (
    WINDOW_SECONDS,
    BackendUnavailable,
    BudgetSlot,
    Check,
    Decision,
    Denial,
    Window,
    tightest,
)

log = logging.getLogger("pilothouse.limits")
US = 1_000_000


async def _call(script: Callable[..., Awaitable[Any]], keys: list[str], args: list[Any]) -> Any:
    try:
        return await script(keys=keys, args=args)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise BackendUnavailable(f"Redis: {exc}") from exc


class RedisBackend:
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "pilothouse:",
        window: float = WINDOW_SECONDS,
        lease_ttl: float = 30.0,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self.window = window
        self.lease_ttl = lease_ttl
        self._acquire = client.register_script(ACQUIRE)
        self._settle = client.register_script(SETTLE)
        self._refresh = client.register_script(REFRESH)
        self._subject_keys: dict[str, tuple[str, str, str, str]] = {}
        self._held: dict[str, list[str]] = {}  # lease id -> the lease sets it holds a slot in
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None

    def _keys(self, subject: str) -> tuple[str, str, str, str]:
        keys = self._subject_keys.get(subject)
        if keys is None:
            base = f"{self._prefix}limit:{subject}:"
            keys = self._subject_keys[subject] = (base + "req", base + "tok", base + "amt", base + "lease")
        return keys

    async def acquire(
        self, lease: str, checks: tuple[Check, ...], tokens: int, budgets: tuple[BudgetSlot, ...]
    ) -> Decision:
        keys = [self._prefix + b.counter for b in budgets]
        args: list[Any] = [lease, int(self.window * US), int(self.lease_ttl * US), tokens, len(budgets)]
        args += [b.limit for b in budgets]
        for check in checks:
            keys += self._keys(check.subject)
            args += (check.rpm, check.tpm, check.concurrency)
        reply = await _call(self._acquire, keys, args)
        nb = len(budgets)
        admitted, denial, index, retry_us = (int(v) for v in reply[:4])
        spent = tuple(int(v) for v in reply[4 : 4 + nb])
        if denial == Denial.BUDGET:
            return Decision(False, Denial.BUDGET, budgets[index - 1].counter, spent=spent)
        requests: list[Window] = []
        token_windows: list[Window] = []
        for i, check in enumerate(checks):
            r_used, r_reset, t_used, t_reset = (int(v) for v in reply[4 + nb + 4 * i : 8 + nb + 4 * i])
            if check.rpm:
                requests.append(Window(check.rpm, max(0, check.rpm - r_used), r_reset / US))
            if check.tpm:
                token_windows.append(Window(check.tpm, max(0, check.tpm - t_used), t_reset / US))
        if admitted:
            slots = [self._keys(c.subject)[3] for c in checks if c.concurrency]
            if slots:
                self._held[lease] = slots
                self._ensure_refresher()
            return Decision(True, requests=tightest(requests), tokens=tightest(token_windows), spent=spent)
        return Decision(
            False,
            Denial(denial),
            checks[index - 1].subject,
            None if denial == Denial.TOO_LARGE else retry_us / US,
            tightest(requests),
            tightest(token_windows),
            spent,
        )

    async def settle(
        self,
        lease: str,
        checks: tuple[Check, ...],
        reserved: int,
        actual: int | None,
        budgets: tuple[BudgetSlot, ...],
        cost: int,
    ) -> list[int]:
        self._held.pop(lease, None)
        keys = [self._prefix + b.counter for b in budgets]
        args: list[Any] = [lease, int(self.window * US), len(budgets), cost, reserved]
        args.append(-1 if actual is None else actual)
        args += [int(b.expires_at * 1000) for b in budgets]
        for check in checks:
            keys += self._keys(check.subject)[1:]
            args += (int(bool(check.tpm)), int(bool(check.concurrency)))
        # Shielded: a client that goes away (cancelling the request) must not leave a slot held.
        task = asyncio.ensure_future(_call(self._settle, keys, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        reply = await asyncio.shield(task)
        return [int(v) for v in reply]

    async def seed_spend(self, slot: BudgetSlot, nanos: int) -> None:
        key = self._prefix + slot.counter
        await self._redis.set(key, nanos, nx=True, pxat=int(slot.expires_at * 1000))

    async def spent(self, budgets: tuple[BudgetSlot, ...]) -> list[int]:
        if not budgets:
            return []
        values = await self._redis.mget([self._prefix + b.counter for b in budgets])
        return [int(v) if v is not None else 0 for v in values]

    async def claim_once(self, name: str, expires_at: float) -> bool:
        key = f"{self._prefix}once:{name}"
        return bool(await self._redis.set(key, 1, nx=True, pxat=int(expires_at * 1000)))

    # --- lease upkeep ---------------------------------------------------------------------------
    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_ttl / 3)
            keys: list[str] = []
            args: list[Any] = [int(self.lease_ttl * US)]
            for lease, slots in list(self._held.items()):
                keys += slots
                args += [lease] * len(slots)
            if not keys:
                continue
            try:
                await _call(self._refresh, keys, args)
            except BackendUnavailable as exc:
                log.warning("cannot extend concurrency leases: %s", exc)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
