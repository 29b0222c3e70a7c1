"""The shared backend: every gateway replica reads and writes the same Redis server.

Layout under the configured prefix (``pilothouse:`` by default):

    cache:e:<exact>         string   the encoded entry, ``SET ... EX ttl``
    cache:v:{<bucket>}      hash     entry key -> 8-byte expiry (unix seconds, float64) + float32 vector
    cache:z:{<bucket>}      zset     entry key scored by its expiry: what to prune, oldest first

The two bucket keys share a hash tag (same cluster slot) and change together in one Lua script:
add, drop expired members, trim to the bound, refresh both keys' TTL. Reads fetch the whole hash and
skip expired members, so an entry never outlives its TTL even between prunes. No Redis modules needed.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

_EXPIRY = struct.Struct("<d")

# KEYS: hash, zset. ARGV: member, value, expires_at, now, max members, ttl seconds.
_ADD = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, member in ipairs(expired) do redis.call('HDEL', KEYS[1], member) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if extra > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #oldest, 2 do redis.call('HDEL', KEYS[1], oldest[i]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""


class RedisBackend:
    name = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "pilothouse:",
        max_per_bucket: int = 256,
        op_timeout: float = 0.5,
    ) -> None:
        # The client belongs to the composition root (shared with limits; decode_responses off).
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the response cache stores bytes: its Redis client needs decode_responses=False")
        self._redis = client
        self._prefix = prefix + "cache:"
        self._max_per_bucket = max_per_bucket
        # A stalled Redis must cost a request at most this much (then it is a miss), never a hang.
        self._timeout = op_timeout
        self._add = client.register_script(_ADD)

    def _entry(self, key: str) -> str:
        return f"{self._prefix}e:{key}"

    async def get(self, key: str) -> bytes | None:
        async with asyncio.timeout(self._timeout):
            value = await self._redis.get(self._entry(key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        async with asyncio.timeout(self._timeout):
            await self._redis.set(self._entry(key), value, ex=ttl)

    async def candidates(self, bucket: str) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(self._timeout):
            raw = await self._redis.hgetall(f"{self._prefix}v:{{{bucket}}}")
        now = time.time()
        size = _EXPIRY.size
        return [
            (member.decode(), value[size:])
            for member, value in raw.items()
            if isinstance(member, bytes)
            and isinstance(value, bytes)
            and len(value) > size
            and _EXPIRY.unpack_from(value)[0] > now
        ]

    async def add_candidate(self, bucket: str, key: str, vector: bytes, ttl: int) -> None:
        now = time.time()
        expires = now + ttl
        async with asyncio.timeout(self._timeout):
            await self._add(
                keys=[f"{self._prefix}v:{{{bucket}}}", f"{self._prefix}z:{{{bucket}}}"],
                args=[key, _EXPIRY.pack(expires) + vector, expires, now, self._max_per_bucket, ttl],
            )
