"""Agent-session limits shared by every gateway replica through Redis.

The same rules as :class:`~pilothouse.guard.agent.SessionLimiter` (see its module docstring), kept
in two keys per session that share a hash tag (one Cluster slot): a hash of totals (steps, tokens,
cost in nano-dollars, tool calls, the looping tool) and a hash of tool-call digests -> times seen.
Each check-and-count runs as one Lua script, so concurrent steps of one session on many replicas
cannot all slip past ``max_steps``. Both keys expire ``idle_seconds`` after the session's last
request. When Redis is down or slow the limits fail open (logged and reported as a
``state_unavailable`` violation on the trace), like the other shared limits.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from pilothouse.core.guarding import AgentLimitsConfig
from pilothouse.guard.agent import COST_EXCEEDED, LOOP, TOKENS_EXCEEDED, SessionState, call_digest
from pilothouse.guard.errors import AgentLimitExceeded

log = logging.getLogger("pilothouse.guard")
NANO = Decimal(1_000_000_000)
UNAVAILABLE = "state_unavailable"
CALLS_KEPT = 1024  # distinct digests per session; past it the count starts over (TTL bounds the rest)

# KEYS: totals. ARGV: max steps, max tokens, max cost (nano-USD), loop limit on (1/0), TTL ms;
# -1 is "no limit". Returns {verdict, steps, tokens, cost, looped tool, tool calls}.
BEGIN = """
local v = redis.call('HMGET', KEYS[1], 'steps', 'tokens', 'cost', 'looped', 'tool_calls')
local steps, tokens, cost = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
local looped = v[4] or ''
local function out(verdict) return {verdict, steps, tokens, cost, looped, tonumber(v[5] or '0')} end
if tonumber(ARGV[1]) >= 0 and steps >= tonumber(ARGV[1]) then return out('steps') end
if tonumber(ARGV[2]) >= 0 and tokens >= tonumber(ARGV[2]) then return out('tokens') end
if tonumber(ARGV[3]) >= 0 and cost >= tonumber(ARGV[3]) then return out('cost') end
if ARGV[4] == '1' and looped ~= '' then return out('loop') end
steps = redis.call('HINCRBY', KEYS[1], 'steps', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return out('ok')
"""

# KEYS: totals, calls. ARGV: tokens, cost (nano-USD), loop limit (-1: none), TTL ms, digests kept,
# then pairs of (tool name, call digest). Returns {tokens, cost, looped now (1/0), steps, tool calls}.
RECORD = """
if redis.call('HEXISTS', KEYS[1], 'steps') == 0 then redis.call('HSET', KEYS[1], 'steps', 1) end
local tokens = redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
local cost = redis.call('HINCRBY', KEYS[1], 'cost', ARGV[2])
local calls = redis.call('HINCRBY', KEYS[1], 'tool_calls', (#ARGV - 5) / 2)
if redis.call('HLEN', KEYS[2]) > tonumber(ARGV[5]) then redis.call('DEL', KEYS[2]) end
local limit, looped = tonumber(ARGV[3]), 0
for i = 6, #ARGV, 2 do
  local seen = redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
  if limit >= 0 and seen >= limit then
    looped = 1
    if not redis.call('HGET', KEYS[1], 'looped') then redis.call('HSET', KEYS[1], 'looped', ARGV[i]) end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return {tokens, cost, looped, tonumber(redis.call('HGET', KEYS[1], 'steps')), calls}
"""


def _limit(value: int | Decimal | None, scale: Decimal = Decimal(1)) -> int:
    return -1 if value is None else int(Decimal(value) * scale)


class RedisSessionLimiter:
    """The shared backend: same methods and semantics as ``SessionLimiter``."""

    def __init__(self, config: AgentLimitsConfig, client: Redis, *, prefix: str = "pilothouse:") -> None:
        self._config = config
        self._prefix = prefix
        self._ttl_ms = max(1, int(config.idle_seconds * 1000))
        self._begin = client.register_script(BEGIN)
        self._record = client.register_script(RECORD)

    def _keys(self, session_id: str) -> list[str]:
        base = f"{self._prefix}agent:{{{session_id}}}"
        return [base, base + ":calls"]

    async def begin_step(self, session_id: str) -> SessionState:
        cfg = self._config
        args = [
            _limit(cfg.max_steps),
            _limit(cfg.max_tokens),
            _limit(cfg.max_cost_usd, NANO),
            1 if cfg.max_identical_calls is not None else 0,
            self._ttl_ms,
        ]
        try:
            raw: Any = await self._begin(keys=self._keys(session_id)[:1], args=args)
        except RedisError as exc:
            log.warning("agent session limits unavailable (failing open): %r", exc)
            return SessionState(session_id, 0, 0, Decimal(0), 0, (UNAVAILABLE,))
        verdict, steps, tokens, cost_nanos, looped, calls = raw
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        cost = Decimal(int(cost_nanos)) / NANO
        if verdict == "steps":
            raise AgentLimitExceeded.steps(session_id, limit=cfg.max_steps or 0, used=int(steps))
        if verdict == "tokens":
            raise AgentLimitExceeded.tokens(session_id, limit=cfg.max_tokens or 0, used=int(tokens))
        if verdict == "cost":
            raise AgentLimitExceeded.cost(session_id, limit=cfg.max_cost_usd or Decimal(0), used=cost)
        if verdict == "loop":
            tool = looped.decode() if isinstance(looped, bytes) else str(looped)
            raise AgentLimitExceeded.loop(session_id, limit=cfg.max_identical_calls or 0, tool=tool)
        return SessionState(session_id, int(steps), int(tokens), cost, int(calls))

    async def record(
        self, session_id: str, *, tokens: int, cost_usd: Decimal, tool_calls: list[dict[str, Any]]
    ) -> list[str]:
        cfg = self._config
        args: list[Any] = [
            max(0, tokens),
            int(max(Decimal(0), cost_usd) * NANO),
            _limit(cfg.max_identical_calls),
            self._ttl_ms,
            CALLS_KEPT,
        ]
        for call in tool_calls:
            name, digest = call_digest(call if isinstance(call, dict) else {})
            args += [name, digest.hex()]
        try:
            raw: Any = await self._record(keys=self._keys(session_id), args=args)
        except RedisError as exc:
            log.warning("agent session limits unavailable (failing open): %r", exc)
            return [UNAVAILABLE]
        total_tokens, total_nanos, looped = int(raw[0]), int(raw[1]), int(raw[2])
        violations = [LOOP] if looped else []
        if cfg.max_tokens is not None and total_tokens > cfg.max_tokens:
            violations.append(TOKENS_EXCEEDED)
        if cfg.max_cost_usd is not None and Decimal(total_nanos) / NANO > cfg.max_cost_usd:
            violations.append(COST_EXCEEDED)
        return violations
