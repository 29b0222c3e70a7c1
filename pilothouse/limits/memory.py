"""In-process limits for one gateway process: exact sliding logs, no locks.

Every method runs to completion without awaiting, so on one event loop a check and the take that
follows it cannot interleave with another request's: that is what makes the counts exact.

- RPM: a log of admission times per subject; admitted iff fewer than ``rpm`` entries are younger
  than the window. Memory is O(rpm) per subject.
- TPM: a log of (time, tokens) entries with a running sum; admitted iff ``sum + reservation <= tpm``.
  Settling rewrites the entry to the actual count; if the entry has already left the window, only
  the excess over the reservation is logged anew.
- Concurrency: a counter per subject, decremented when the lease settles.
- Budgets: integer nano-USD counters keyed by period.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from pilothouse.limits.types import (
    WINDOW_SECONDS,
    BudgetSlot,
    Check,
    Decision,
    Denial,
    Window,
    tightest,
)


class _Entry:
    __slots__ = ("at", "live", "tokens")

    def __init__(self, at: float, tokens: int) -> None:
        self.at = at
        self.tokens = tokens
        self.live = True


class _Subject:
    __slots__ = ("inflight", "requests", "token_log", "token_sum")

    def __init__(self) -> None:
        self.requests: deque[float] = deque()
        self.token_log: deque[_Entry] = deque()
        self.token_sum = 0
        self.inflight = 0

    def prune(self, cutoff: float) -> None:
        requests = self.requests
        while requests and requests[0] <= cutoff:
            requests.popleft()
        log = self.token_log
        while log and log[0].at <= cutoff:
            entry = log.popleft()
            entry.live = False
            self.token_sum -= entry.tokens

    def tokens_free_in(self, need: int, now: float, window: float) -> float:
        """Seconds until entries holding at least ``need`` tokens have left the window."""
        freed = 0
        for entry in self.token_log:
            freed += entry.tokens
            if freed >= need:
                return entry.at + window - now
        return window


_RPM, _TPM, _CONCURRENCY = int(Denial.RPM), int(Denial.TPM), int(Denial.CONCURRENCY)
_TOO_LARGE = int(Denial.TOO_LARGE)

# What a lease holds per subject: the subject, its TPM entry (or None) and whether it took a slot.
_Held = list[tuple[_Subject, _Entry | None, bool]]


class MemoryBackend:
    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self._clock = clock  # for the windows
        self._wall = wall  # for budget counters' expiry (unix time)
        self._subjects: dict[str, _Subject] = {}
        self._held: dict[str, _Held] = {}
        self._spend: dict[str, int] = {}
        self._expiry: dict[str, float] = {}

    def _subject(self, name: str) -> _Subject:
        subject = self._subjects.get(name)
        if subject is None:
            subject = self._subjects[name] = _Subject()
        return subject

    async def acquire(
        self, lease: str, checks: tuple[Check, ...], tokens: int, budgets: tuple[BudgetSlot, ...]
    ) -> Decision:
        spent: tuple[int, ...] = ()
        if budgets:
            spent = tuple(self._spend.get(b.counter, 0) for b in budgets)
            for slot, used in zip(budgets, spent, strict=True):
                if used >= slot.limit:
                    return Decision(False, Denial.BUDGET, slot.counter, spent=spent)
        now = self._clock()
        window = self.window
        cutoff = now - window
        # Plain ints in the loop (an enum member lookup costs more than the comparison).
        denial, denied_by, retry = 0, "", 0.0
        subjects: list[_Subject] = []
        for check in checks:
            s = self._subject(check.subject)
            s.prune(cutoff)
            subjects.append(s)
            why = 0
            if check.rpm and len(s.requests) >= check.rpm:
                why = _RPM
                retry = max(retry, s.requests[len(s.requests) - check.rpm] + window - now)
            if check.tpm:
                if tokens > check.tpm:
                    why = _TOO_LARGE
                elif s.token_sum + tokens > check.tpm:
                    why = why or _TPM
                    retry = max(retry, s.tokens_free_in(s.token_sum + tokens - check.tpm, now, window))
            if check.concurrency and s.inflight >= check.concurrency:
                why = why or _CONCURRENCY
                retry = max(retry, 1.0)  # a slot frees when some answer ends: unknown, poll
            if why and not denial:
                denial, denied_by = why, check.subject
        if denial:
            requests, tokens_window = self._windows(checks, subjects, now)
            return Decision(
                False,
                Denial(denial),
                denied_by,
                None if denial == _TOO_LARGE else retry,
                requests,
                tokens_window,
                spent,
            )
        held: _Held = []
        for i, check in enumerate(checks):
            s = subjects[i]
            if check.rpm:
                s.requests.append(now)
            entry = None
            if check.tpm:
                entry = _Entry(now, tokens)
                s.token_log.append(entry)
                s.token_sum += tokens
            if check.concurrency:
                s.inflight += 1
            if entry is not None or check.concurrency:
                held.append((s, entry, bool(check.concurrency)))
        if held:  # RPM alone has nothing to give back
            self._held[lease] = held
        requests, tokens_window = self._windows(checks, subjects, now)
        return Decision(True, requests=requests, tokens=tokens_window, spent=spent)

    def _windows(
        self, checks: tuple[Check, ...], subjects: list[_Subject], now: float
    ) -> tuple[Window | None, Window | None]:
        requests: list[Window] = []
        tokens: list[Window] = []
        window = self.window
        for i, check in enumerate(checks):
            s = subjects[i]
            if check.rpm:
                reset = s.requests[0] + window - now if s.requests else 0.0
                requests.append(Window(check.rpm, max(0, check.rpm - len(s.requests)), reset))
            if check.tpm:
                reset = s.token_log[0].at + window - now if s.token_log else 0.0
                tokens.append(Window(check.tpm, max(0, check.tpm - s.token_sum), reset))
        return tightest(requests), tightest(tokens)

    async def settle(
        self,
        lease: str,
        checks: tuple[Check, ...],
        reserved: int,
        actual: int | None,
        budgets: tuple[BudgetSlot, ...],
        cost: int,
    ) -> list[int]:
        for s, entry, slot in self._held.pop(lease, ()) if self._held else ():
            if slot:
                s.inflight -= 1
            if entry is None or actual is None:
                continue
            if entry.live:
                s.token_sum += actual - entry.tokens
                entry.tokens = actual
            elif actual > reserved:  # the reservation already left the window: log the excess now
                late = _Entry(self._clock(), actual - reserved)
                s.token_log.append(late)
                s.token_sum += late.tokens
        out = []
        for slot_ in budgets:
            value = self._spend.get(slot_.counter, 0) + cost
            if cost:
                self._set(slot_, value)
            out.append(value)
        return out

    def _set(self, slot: BudgetSlot, value: int) -> None:
        if slot.counter not in self._spend:
            self._forget_expired()
        self._spend[slot.counter] = value
        self._expiry[slot.counter] = slot.expires_at

    def _forget_expired(self) -> None:
        now = self._wall()
        for counter in [c for c, at in self._expiry.items() if at <= now]:
            del self._spend[counter], self._expiry[counter]

    async def seed_spend(self, slot: BudgetSlot, nanos: int) -> None:
        if slot.counter not in self._spend:
            self._set(slot, nanos)

    async def spent(self, budgets: tuple[BudgetSlot, ...]) -> list[int]:
        return [self._spend.get(b.counter, 0) for b in budgets]

    async def claim_once(self, name: str, expires_at: float) -> bool:
        key = "once:" + name
        if key in self._spend:
            return False
        self._spend[key] = 1
        self._expiry[key] = expires_at
        return True

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
