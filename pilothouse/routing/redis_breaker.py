"""Circuit breakers shared by every gateway process through Redis: the same rules as
``LocalBreakerBoard``, each transition one atomic server-side script (no read-modify-write race)."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

from pilothouse.core.traffic import BreakerConfig
from pilothouse.routing.breaker import State

# KEYS[1] breaker hash (state, opened_at, probes, consecutive); ARGV: cooldown, max_probes, ttl
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'probes')
local state = h[1] or 'closed'
if state == 'closed' then return 1 end
local opened = tonumber(h[2]) or 0
local probes = tonumber(h[3]) or 0
local cooldown = tonumber(ARGV[1])
if state == 'open' then
  if now - opened < cooldown then return 0 end
  state = 'half_open'
  probes = 0
  opened = now
end
if probes < tonumber(ARGV[2]) or now - opened >= cooldown then
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probes', probes + 1, 'opened_at', now)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
redis.call('HSET', KEYS[1], 'state', state, 'opened_at', opened, 'probes', probes)
return 0
"""

# KEYS[1] breaker hash, KEYS[2] outcome buckets (field "ok:<second>" / "fail:<second>")
# ARGV: ok (1/0), consecutive_failures, error_rate, window, min_requests, ttl
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ok = ARGV[1] == '1'
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' then
  if ok then
    redis.call('DEL', KEYS[1], KEYS[2])
  else
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'probes', 0)
    redis.call('EXPIRE', KEYS[1], ARGV[6])
  end
  return state
end
if state == 'open' then return state end
local second = math.floor(now)
redis.call('HINCRBY', KEYS[2], (ok and 'ok:' or 'fail:') .. second, 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
local consecutive = 0
if ok then
  redis.call('HSET', KEYS[1], 'consecutive', 0)
else
  consecutive = redis.call('HINCRBY', KEYS[1], 'consecutive', 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
local window = tonumber(ARGV[4])
local total, fails = 0, 0
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do
  local kind, sec = string.match(fields[i], '(%a+):(%d+)')
  if now - tonumber(sec) > window then
    redis.call('HDEL', KEYS[2], fields[i])
  else
    local n = tonumber(fields[i + 1])
    total = total + n
    if kind == 'fail' then fails = fails + n end
  end
end
local tripped = total >= tonumber(ARGV[5]) and fails / total >= tonumber(ARGV[3])
if not ok and (consecutive >= tonumber(ARGV[2]) or tripped) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'probes', 0, 'consecutive', 0)
  redis.call('DEL', KEYS[2])
  return 'open'
end
return 'closed'
"""

_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'state', 'opened_at')
local state = h[1] or 'closed'
if state == 'open' and now - (tonumber(h[2]) or 0) >= tonumber(ARGV[1]) then return 'half_open' end
return state
"""


class RedisBreakerBoard:
    def __init__(self, redis: Redis, config: BreakerConfig, prefix: str = "pilothouse:") -> None:
        self._config = config
        self._prefix = prefix + "breaker:"
        self._allow = redis.register_script(_ALLOW)
        self._record = redis.register_script(_RECORD)
        self._state = redis.register_script(_STATE)
        # Keys outlive any window or cooldown, then expire so retired deployments leave nothing behind.
        self._ttl = int(max(config.window_seconds, config.cooldown_seconds) * 4) + 60

    def _keys(self, deployment: str) -> list[str]:
        return [self._prefix + deployment, self._prefix + deployment + ":outcomes"]

    async def allow(self, deployment: str) -> bool:
        cfg = self._config
        result: Any = await self._allow(
            keys=self._keys(deployment)[:1], args=[cfg.cooldown_seconds, cfg.half_open_probes, self._ttl]
        )
        return bool(int(result))

    async def record(self, deployment: str, ok: bool) -> None:
        cfg = self._config
        await self._record(
            keys=self._keys(deployment),
            args=[
                1 if ok else 0,
                cfg.consecutive_failures,
                cfg.error_rate,
                cfg.window_seconds,
                cfg.min_requests,
                self._ttl,
            ],
        )

    async def state(self, deployment: str) -> State:
        result: Any = await self._state(keys=self._keys(deployment)[:1], args=[self._config.cooldown_seconds])
        value = result.decode() if isinstance(result, bytes) else str(result)
        return cast(State, value)
