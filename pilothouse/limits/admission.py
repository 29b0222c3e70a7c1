"""Admission of one chat request: which limits and budgets apply to it (a cached plan per key, team
and route), one atomic take of all of them, and the lease that settles them after the answer.

Tokens are reserved up front as the prompt estimate plus the requested ``max_tokens`` (as OpenAI's
own limiter counts them): otherwise a burst of long answers would sail past TPM before any usage is
known. Settling rewrites the reservation to the actual usage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from pilothouse.core.errors import PilothouseError, RateLimited
from pilothouse.core.traffic import LimitsConfig, LimitSpec
from pilothouse.limits.budgets import SOFT_FLAG, BudgetBook
from pilothouse.limits.types import (
    BackendUnavailable,
    BudgetSlot,
    Check,
    Decision,
    Denial,
    LimitBackend,
    Window,
    new_lease_id,
)

log = logging.getLogger("pilothouse.limits")
UNAVAILABLE_FLAG = "limits_unavailable"
_PLAN_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Plan:
    checks: tuple[Check, ...]
    budgets: tuple[int, ...]  # indices into the budget book
    counts_tokens: bool
    described: tuple[str, ...]  # for the trace span
    settles: bool  # anything to give back or add after the answer (RPM alone has nothing)


def _describe(check: Check) -> str:
    parts = [("rpm", check.rpm), ("tpm", check.tpm), ("concurrency", check.concurrency)]
    return check.subject + " " + " ".join(f"{k}={v}" for k, v in parts if v)


def _label(subject: str) -> str:
    kind, _, name = subject.partition(":")
    return f"{kind} '{name}'"


def format_duration(seconds: float) -> str:
    """OpenAI's style for ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    ms = max(0, round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, secs = divmod(round(ms / 1000), 60)
    return f"{minutes}m{secs}s"


_HEADER_NAMES = tuple(
    tuple(f"x-ratelimit-{part}-{kind}".encode() for part in ("limit", "remaining", "reset"))
    for kind in ("requests", "tokens")
)


def ratelimit_headers(requests: Window | None, tokens: Window | None) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for (limit, remaining, reset), window in zip(_HEADER_NAMES, (requests, tokens), strict=True):
        if window is not None:
            out.append((limit, str(window.limit).encode()))
            out.append((remaining, str(window.remaining).encode()))
            out.append((reset, format_duration(window.reset).encode()))
    return out


class Ticket:
    """One request's admission; as a ``Lease`` it settles exactly once."""

    __slots__ = ("_control", "decision", "denial", "flags", "lease", "plan", "reserved", "settled", "slots")

    def __init__(
        self,
        control: AdmissionControl,
        plan: Plan,
        reserved: int,
        slots: tuple[BudgetSlot, ...],
        decision: Decision | None,
        lease: str,
    ) -> None:
        self._control = control
        self.plan = plan
        self.reserved = reserved
        self.slots = slots
        self.decision = decision  # None: the backend was unreachable and the request passed unchecked
        self.lease = lease
        self.flags: list[str] = []
        self.denial: PilothouseError | None = None
        self.settled = decision is None or not decision.admitted or not plan.settles

    def headers(self) -> list[tuple[bytes, bytes]]:
        d = self.decision
        return ratelimit_headers(d.requests, d.tokens) if d is not None else []

    def attributes(self) -> dict[str, Any]:
        d = self.decision
        attrs: dict[str, Any] = {"pilothouse.limits.checked": list(self.plan.described)}
        if self.plan.counts_tokens:
            attrs["pilothouse.limits.tokens_reserved"] = self.reserved
        if self.slots and d is not None and d.spent:
            attrs["pilothouse.limits.budgets"] = [
                f"{s.counter} spent={v} limit={s.limit}" for s, v in zip(self.slots, d.spent, strict=True)
            ]
        if d is None:
            attrs["pilothouse.limits.outcome"] = "unchecked"
        elif d.admitted:
            attrs["pilothouse.limits.outcome"] = "admitted"
        else:
            attrs["pilothouse.limits.outcome"] = d.denial.name.lower()
            attrs["pilothouse.limits.denied_by"] = d.denied_by
            if d.retry_after is not None:
                attrs["pilothouse.limits.retry_after_s"] = round(d.retry_after, 3)
        return attrs

    async def release(self, actual_tokens: int | None = None, cost_nanos: int = 0) -> list[str]:
        """Settle: free concurrency, reconcile tokens, add the cost; returns flags for the trace."""
        if self.settled:
            return []
        self.settled = True
        return await self._control.settle(self, actual_tokens, cost_nanos)


class AdmissionControl:
    def __init__(self, backend: LimitBackend, limits: LimitsConfig, budgets: BudgetBook | None) -> None:
        self._backend = backend
        self._limits = limits
        self._book = budgets
        self._plans: dict[tuple[str, str | None, str], Plan | None] = {}
        self.unavailable = 0  # admissions that passed unchecked because the backend was down
        self._last_warning = 0.0

    def plan(self, key: str, team: str | None, route: str, route_limits: LimitSpec | None) -> Plan | None:
        """What applies to this key, team and route; None when nothing does (the stage skips)."""
        cache_key = (key, team, route)
        try:
            return self._plans[cache_key]
        except KeyError:
            pass
        limits = self._limits
        found = (
            Check.of("key:" + key, limits.keys.get(key, limits.key_default)),
            Check.of("team:" + team, limits.teams.get(team)) if team else None,
            Check.of("route:" + route, route_limits),
        )
        checks = tuple(c for c in found if c is not None)
        budgets = self._book.applicable(key, team, route) if self._book is not None else ()
        plan = None
        if checks or budgets:
            described = tuple(_describe(c) for c in checks)
            if self._book is not None:
                described += tuple(
                    f"budget:{b.scope}:{b.name} {b.period} ${b.limit_usd}"
                    for b in (self._book.configs[i] for i in budgets)
                )
            counts_tokens = any(c.tpm for c in checks)
            settles = bool(budgets) or counts_tokens or any(c.concurrency for c in checks)
            plan = Plan(checks, budgets, counts_tokens, described, settles)
        if len(self._plans) >= _PLAN_CACHE_MAX:
            self._plans.clear()
        self._plans[cache_key] = plan
        return plan

    async def admit(self, plan: Plan, tokens: int) -> Ticket:
        """Take every limit of the plan, or none. A refused ticket carries the error to raise."""
        slots = self._book.slots(plan.budgets) if self._book is not None and plan.budgets else ()
        lease = new_lease_id()
        try:
            decision = await self._backend.acquire(lease, plan.checks, tokens, slots)
        except BackendUnavailable as exc:
            self._unavailable(exc)
            unchecked = Ticket(self, plan, tokens, slots, None, lease)
            unchecked.flags.append(UNAVAILABLE_FLAG)
            return unchecked
        ticket = Ticket(self, plan, tokens, slots, decision, lease)
        if decision.admitted:
            if self._book is not None and slots and self._book.observe(plan.budgets, slots, decision.spent):
                ticket.flags.append(SOFT_FLAG)
        elif decision.denial == Denial.BUDGET:
            assert self._book is not None
            ticket.denial = self._book.exceeded(plan.budgets, slots, decision.denied_by)
        else:
            ticket.denial = self._rate_limited(plan, decision, tokens)
        return ticket

    def _rate_limited(self, plan: Plan, d: Decision, tokens: int) -> RateLimited:
        check = next(c for c in plan.checks if c.subject == d.denied_by)
        who = _label(d.denied_by)
        if d.denial == Denial.RPM:
            what = f"on requests per minute (RPM): limit {check.rpm}"
        elif d.denial == Denial.CONCURRENCY:
            what = f"on concurrent requests: limit {check.concurrency} in flight"
        elif d.denial == Denial.TPM:
            what = f"on tokens per minute (TPM): limit {check.tpm}, requested {tokens}"
        else:
            return RateLimited(
                f"Request too large for {who} on tokens per minute (TPM): limit {check.tpm}, requested "
                f"{tokens} (prompt estimate plus max_tokens). Send fewer tokens or a lower max_tokens.",
                code="tokens_exceed_limit",
                extra_headers=ratelimit_headers(d.requests, d.tokens),
            )
        wait = f" Please try again in {d.retry_after:.1f}s." if d.retry_after is not None else ""
        return RateLimited(
            f"Rate limit reached for {who} {what}.{wait}",
            retry_after=d.retry_after,
            extra_headers=ratelimit_headers(d.requests, d.tokens),
        )

    async def settle(self, ticket: Ticket, actual_tokens: int | None, cost_nanos: int) -> list[str]:
        try:
            spent = await self._backend.settle(
                ticket.lease, ticket.plan.checks, ticket.reserved, actual_tokens, ticket.slots, cost_nanos
            )
        except BackendUnavailable as exc:
            self._unavailable(exc)
            return []
        if (
            self._book is not None
            and ticket.slots
            and self._book.observe(ticket.plan.budgets, ticket.slots, spent)
        ):
            return [SOFT_FLAG]
        return []

    def _unavailable(self, exc: BackendUnavailable) -> None:
        self.unavailable += 1
        now = time.monotonic()
        if now - self._last_warning > 10.0:  # an outage must not flood the log
            self._last_warning = now
            log.error("limits backend unavailable, admitting unchecked: %s", exc)
