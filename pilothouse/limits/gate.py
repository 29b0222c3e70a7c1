"""Per-deployment limits (``models[].limits``) as the ``DeploymentGate`` port routing asks before each
attempt: a deployment at its RPM, TPM or concurrency limit is skipped like an open circuit."""

from __future__ import annotations

import logging

from pilothouse.core.ports import Lease
from pilothouse.core.traffic import LimitSpec
from pilothouse.limits.types import BackendUnavailable, Check, LimitBackend, new_lease_id

log = logging.getLogger("pilothouse.limits")


class _Unlimited:
    async def release(self, actual_tokens: int | None = None) -> None:
        return None


UNLIMITED = _Unlimited()


class _DeploymentLease:
    __slots__ = ("_backend", "_checks", "_id", "_reserved", "_settled")

    def __init__(
        self, backend: LimitBackend, checks: tuple[Check, ...], lease_id: str, reserved: int
    ) -> None:
        self._backend = backend
        self._checks = checks
        self._id = lease_id
        self._reserved = reserved
        self._settled = False

    async def release(self, actual_tokens: int | None = None) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            await self._backend.settle(self._id, self._checks, self._reserved, actual_tokens, (), 0)
        except BackendUnavailable as exc:
            log.warning("cannot release deployment lease: %s", exc)


class LimitsGate:
    """Implements ``DeploymentGate`` over a limit backend (in-process or Redis)."""

    def __init__(self, backend: LimitBackend, limits: dict[str, LimitSpec]) -> None:
        self._backend = backend
        self._checks: dict[str, tuple[Check, ...]] = {}
        for name, spec in limits.items():
            check = Check.of("deployment:" + name, spec)
            if check is not None:
                self._checks[name] = (check,)

    async def try_acquire(self, deployment: str, tokens: int) -> Lease | None:
        checks = self._checks.get(deployment)
        if checks is None:
            return UNLIMITED
        reserved = tokens if checks[0].tpm else 0
        lease_id = new_lease_id()
        try:
            decision = await self._backend.acquire(lease_id, checks, reserved, ())
        except BackendUnavailable as exc:
            log.warning("deployment limits unavailable, admitting unchecked: %s", exc)
            return UNLIMITED
        if not decision.admitted:
            return None
        return _DeploymentLease(self._backend, checks, lease_id, reserved)
