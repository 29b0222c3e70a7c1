"""Values passed between the admission policy and the limit backends."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from pilothouse.core.traffic import LimitSpec

WINDOW_SECONDS = 60.0  # RPM and TPM count over a sliding minute


class Denial(IntEnum):
    """Why a request was refused (the integers are what the Redis scripts return)."""

    NONE = 0
    RPM = 1
    TPM = 2
    CONCURRENCY = 3
    TOO_LARGE = 4  # the request alone needs more tokens than the TPM limit: waiting cannot help
    BUDGET = 5


@dataclass(frozen=True, slots=True)
class Check:
    """One subject's limits: ``key:alice``, ``team:qa``, ``route:support``, ``deployment:gpt-4o``.

    A zero means no limit of that kind.
    """

    subject: str
    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0

    @classmethod
    def of(cls, subject: str, spec: LimitSpec | None) -> Check | None:
        if spec is None or not (spec.rpm or spec.tpm or spec.max_concurrency):
            return None
        return cls(subject, spec.rpm or 0, spec.tpm or 0, spec.max_concurrency or 0)


@dataclass(frozen=True, slots=True)
class BudgetSlot:
    """One budget's counter for the current period, in integer nano-USD."""

    counter: str  # e.g. "budget:team:qa:day:2025-01-31"
    limit: int
    soft: int
    expires_at: float  # unix seconds: the counter may be dropped after this


# Window and Decision are made per request: plain slotted classes (a frozen dataclass's __init__
# costs a microsecond more through object.__setattr__).
@dataclass(slots=True)
class Window:
    """A subject's RPM or TPM window after the decision, for the ``x-ratelimit-*`` headers."""

    limit: int
    remaining: int
    reset: float  # seconds until the oldest counted entry leaves the window (remaining grows)


@dataclass(slots=True)
class Decision:
    admitted: bool
    denial: Denial = Denial.NONE
    denied_by: str = ""  # the subject (or budget counter) that refused
    retry_after: float | None = None  # seconds until every refusing limit has room
    requests: Window | None = None  # the tightest RPM window among the checks
    tokens: Window | None = None  # the tightest TPM window
    spent: tuple[int, ...] = ()  # per budget slot, nano-USD, as read at the decision


class BackendUnavailable(Exception):
    """The shared limit store cannot be reached; admission fails open rather than taking the gateway
    down with it (the outage is logged and counted)."""


def new_lease_id() -> str:
    return os.urandom(8).hex()


def tightest(windows: list[Window]) -> Window | None:
    """The window closest to refusing: least remaining, then the smallest limit."""
    if len(windows) < 2:
        return windows[0] if windows else None
    return min(windows, key=lambda w: (w.remaining, w.limit))


class LimitBackend(Protocol):
    """Where counters live: one process (``MemoryBackend``) or shared through Redis (``RedisBackend``).

    ``acquire`` checks budgets and every check's limits and takes them all, or nothing: a request
    refused by its team's limit does not use up its key's quota.
    """

    async def acquire(
        self, lease: str, checks: tuple[Check, ...], tokens: int, budgets: tuple[BudgetSlot, ...]
    ) -> Decision: ...

    async def settle(
        self,
        lease: str,
        checks: tuple[Check, ...],
        reserved: int,
        actual: int | None,
        budgets: tuple[BudgetSlot, ...],
        cost: int,
    ) -> list[int]:
        """Release the concurrency slots, reconcile TPM from ``reserved`` to ``actual`` tokens (None:
        keep the reservation) and add ``cost`` nano-USD to the budgets; returns their new spend."""
        ...

    async def seed_spend(self, slot: BudgetSlot, nanos: int) -> None:
        """Set a budget counter if it does not exist yet (restarts keep their spend)."""
        ...

    async def spent(self, budgets: tuple[BudgetSlot, ...]) -> list[int]: ...

    async def claim_once(self, name: str, expires_at: float) -> bool:
        """True for exactly one caller (across processes) per ``name`` until ``expires_at``."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...
