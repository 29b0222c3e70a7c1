"""Per-session agent limits: steps, tokens, money, and identical-tool-call loops.

A session is what the client names with the ``x-pilothouse-session`` header. The gateway calls
:meth:`SessionLimiter.begin_step` before a chat request (it counts the step, or refuses it) and
:meth:`SessionLimiter.record` after the answer (tokens, cost, the tool calls the model made).

Precisely: with ``max_steps=3`` requests 1 to 3 pass and the 4th is refused; a step is counted when
it begins, so concurrent requests of one session cannot all slip past the limit. Tokens and cost
are known only afterwards, so the step that crosses ``max_tokens`` or ``max_cost_usd`` completes
(``record`` reports the overshoot) and the next one is refused. The same tool name with the same
arguments (JSON compared after sorting keys) seen ``max_identical_calls`` times is a loop: ``record``
reports it and every later step of the session is refused.

This backend is in memory (one process; with several replicas use the Redis one, ``agent_redis``):
at most ``max_sessions`` sessions, the least recently seen evicted first, and each forgotten after
``idle_seconds`` without a request. A forgotten session starts afresh. No method awaits, so on one
event loop a check and its update cannot interleave with another's.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from pilothouse.core.guarding import AgentLimitsConfig
from pilothouse.guard.errors import AgentLimitExceeded

LOOP = "identical_tool_call_loop"
TOKENS_EXCEEDED = "token_limit_exceeded"
COST_EXCEEDED = "cost_limit_exceeded"
# Distinct tool calls remembered per session, the least recently seen forgotten first: loops repeat
# recent calls, and the bound keeps a session under ~20 KB however long it runs.
_CALLS_KEPT = 128


@dataclass(frozen=True, slots=True)
class SessionState:
    """A session's totals after a step began or was recorded, for traces."""

    session_id: str
    steps: int
    tokens: int
    cost_usd: Decimal
    tool_calls: int
    violations: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "steps": self.steps,
            "tokens": self.tokens,
            "cost_usd": str(self.cost_usd),
            "tool_calls": self.tool_calls,
            "violations": list(self.violations),
        }


class _Session:
    __slots__ = ("calls", "cost", "last_seen", "looped", "steps", "tokens", "tool_calls", "violations")

    def __init__(self, now: float) -> None:
        self.steps = 0
        self.tokens = 0
        self.cost = Decimal(0)
        self.tool_calls = 0
        self.last_seen = now
        # Digest of (tool name, canonical arguments) -> times seen; digests, not arguments, are kept.
        self.calls: OrderedDict[bytes, int] = OrderedDict()
        self.looped: str | None = None  # the tool that looped
        self.violations: list[str] = []

    def state(self, session_id: str) -> SessionState:
        return SessionState(
            session_id, self.steps, self.tokens, self.cost, self.tool_calls, tuple(self.violations)
        )


def call_digest(call: dict[str, Any]) -> tuple[str, bytes]:
    """``(tool name, digest of name and arguments)`` for an OpenAI tool call; arguments compare as
    JSON with sorted keys, so ``{"a":1,"b":2}`` and ``{"b": 2, "a": 1}`` are the same call."""
    function = call.get("function")
    body = function if isinstance(function, dict) else {}
    name = str(body.get("name") or "")
    raw = body.get("arguments")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        canonical = str(raw).strip()  # not JSON: compared as text
    digest = hashlib.blake2b(f"{name}\0{canonical}".encode(errors="surrogatepass"), digest_size=16)
    return name, digest.digest()


class SessionLimits(Protocol):
    """What the gateway needs of a session store: in memory (here) or shared (``agent_redis``)."""

    async def begin_step(self, session_id: str) -> SessionState: ...

    async def record(
        self, session_id: str, *, tokens: int, cost_usd: Decimal, tool_calls: list[dict[str, Any]]
    ) -> list[str]: ...


# Builds a policy's session store from its limits (bootstrap picks memory or Redis).
SessionStoreFactory = Callable[[AgentLimitsConfig], SessionLimits]


class SessionLimiter:
    """Agent-session limits from :class:`AgentLimitsConfig`, kept in memory (see the module
    docstring). ``clock`` is a monotonic time source in seconds."""

    def __init__(
        self,
        config: AgentLimitsConfig,
        *,
        max_sessions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._config = config
        self._max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self, now: float) -> None:
        cutoff = now - self._config.idle_seconds
        sessions = self._sessions
        while sessions:
            oldest = next(iter(sessions.values()))
            if oldest.last_seen > cutoff:
                break
            sessions.popitem(last=False)

    def _touch(self, session_id: str) -> _Session:
        now = self._clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(now)
            if len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
            session.last_seen = now
        return session

    async def begin_step(self, session_id: str) -> SessionState:
        """Count a new step, or raise :class:`AgentLimitExceeded` (nothing counted) when the
        session has used its steps, tokens or money, or looped."""
        cfg = self._config
        session = self._touch(session_id)
        if cfg.max_steps is not None and session.steps >= cfg.max_steps:
            raise AgentLimitExceeded.steps(session_id, limit=cfg.max_steps, used=session.steps)
        if cfg.max_tokens is not None and session.tokens >= cfg.max_tokens:
            raise AgentLimitExceeded.tokens(session_id, limit=cfg.max_tokens, used=session.tokens)
        if cfg.max_cost_usd is not None and session.cost >= cfg.max_cost_usd:
            raise AgentLimitExceeded.cost(session_id, limit=cfg.max_cost_usd, used=session.cost)
        if session.looped is not None and cfg.max_identical_calls is not None:
            raise AgentLimitExceeded.loop(session_id, limit=cfg.max_identical_calls, tool=session.looped)
        session.steps += 1
        return session.state(session_id)

    async def record(
        self, session_id: str, *, tokens: int, cost_usd: Decimal, tool_calls: list[dict[str, Any]]
    ) -> list[str]:
        """Add a step's usage and tool calls; return this step's violations: ``LOOP`` when a call
        has now been seen ``max_identical_calls`` times, ``TOKENS_EXCEEDED``/``COST_EXCEEDED`` when
        the totals went past a limit. The next :meth:`begin_step` refuses after any of them."""
        cfg = self._config
        session = self._touch(session_id)
        if session.steps == 0:
            session.steps = 1  # forgotten since its step began: the step still happened
        session.tokens += max(0, tokens)
        session.cost += max(Decimal(0), cost_usd)
        session.tool_calls += len(tool_calls)
        violations: list[str] = []
        for call in tool_calls:
            name, digest = call_digest(call if isinstance(call, dict) else {})
            seen = session.calls.pop(digest, 0) + 1
            session.calls[digest] = seen  # most recent last
            if len(session.calls) > _CALLS_KEPT:
                session.calls.popitem(last=False)
            if cfg.max_identical_calls is not None and seen >= cfg.max_identical_calls:
                session.looped = session.looped or name
                if LOOP not in violations:
                    violations.append(LOOP)
        if cfg.max_tokens is not None and session.tokens > cfg.max_tokens:
            violations.append(TOKENS_EXCEEDED)
        if cfg.max_cost_usd is not None and session.cost > cfg.max_cost_usd:
            violations.append(COST_EXCEEDED)
        session.violations.extend(v for v in violations if v not in session.violations)
        return violations

    async def state(self, session_id: str) -> SessionState | None:
        """The session's totals, or None when it is unknown or forgotten (does not touch it)."""
        session = self._sessions.get(session_id)
        if session is None or session.last_seen <= self._clock() - self._config.idle_seconds:
            return None
        return session.state(session_id)
