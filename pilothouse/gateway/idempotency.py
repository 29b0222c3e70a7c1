"""Idempotency keys: a client that retries a request with the same ``Idempotency-Key`` gets the
first answer again instead of a second provider call and a second bill.

Keys are scoped by the calling key, kept for ``ttl`` seconds, and bound to the request body: the
same key with a different body is a 422. While the first request is still running a retry waits
for it (up to ``wait`` seconds), then gets a 409. Failed requests release their key.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from pilothouse.core.completions import assemble, chunks_of, replay
from pilothouse.core.errors import PilothouseError, ValidationFailed
from pilothouse.core.types import ChatResult, ChunkStream, Usage
from pilothouse.gateway.asgi import header
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome

HEADER = b"idempotency-key"
PENDING = b"pending"


class Conflict(PilothouseError):
    status = 409
    type = "invalid_request_error"
    code = "idempotency_conflict"


class IdempotencyStore(Protocol):
    async def claim(self, key: str, ttl: float) -> bytes | None:
        """Mark ``key`` pending and return None, or return what is stored under it already."""
        ...

    async def complete(self, key: str, value: bytes, ttl: float) -> None: ...

    async def release(self, key: str) -> None: ...


class MemoryIdempotencyStore:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._max = max_entries

    async def claim(self, key: str, ttl: float) -> bytes | None:
        now = time.monotonic()
        found = self._data.get(key)
        if found is not None and found[1] > now:
            return found[0]
        if len(self._data) >= self._max:
            self._data = {k: v for k, v in self._data.items() if v[1] > now}
        self._data[key] = (PENDING, now + ttl)
        return None

    async def complete(self, key: str, value: bytes, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    async def release(self, key: str) -> None:
        self._data.pop(key, None)


class RedisIdempotencyStore:
    """SET NX makes the claim atomic across gateway processes."""

    def __init__(self, redis: Redis, prefix: str = "pilothouse:") -> None:
        self._redis = redis
        self._prefix = prefix + "idem:"

    async def claim(self, key: str, ttl: float) -> bytes | None:
        name = self._prefix + key
        if await self._redis.set(name, PENDING, nx=True, px=int(ttl * 1000)):
            return None
        value = await self._redis.get(name)
        if value is None:  # expired between the two calls: claim again
            return await self.claim(key, ttl)
        return value if isinstance(value, bytes) else str(value).encode()

    async def complete(self, key: str, value: bytes, ttl: float) -> None:
        await self._redis.set(self._prefix + key, value, px=int(ttl * 1000))

    async def release(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Idempotency:
    name = "idempotency"

    def __init__(self, store: IdempotencyStore, *, ttl: float = 86_400.0, wait: float = 30.0) -> None:
        self._store = store
        self._ttl = ttl
        self._wait = wait

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        raw = header(ctx.scope, HEADER)
        if not raw:
            return await call_next(ctx)
        key = hashlib.sha256(ctx.principal.key_id.encode() + b"\0" + raw).hexdigest()
        fingerprint = _fingerprint(ctx.body)
        deadline = time.monotonic() + self._wait
        while (stored := await self._store.claim(key, self._ttl)) == PENDING:
            if time.monotonic() >= deadline:
                raise Conflict("A request with this Idempotency-Key is still in progress.")
            await asyncio.sleep(0.05)
        if stored is not None:
            return self._replay(ctx, stored, fingerprint)
        try:
            outcome = await call_next(ctx)
        except BaseException:
            await self._store.release(key)
            raise
        if isinstance(outcome, ChatResult):
            await self._store.complete(key, self._pack(fingerprint, outcome.body, outcome.usage), self._ttl)
            return outcome
        return StreamOutcome(self._remember(key, fingerprint, outcome.chunks))

    @staticmethod
    def _pack(fingerprint: str, body: dict[str, Any], usage: Usage) -> bytes:
        return orjson.dumps({"fingerprint": fingerprint, "body": body, "usage": usage.to_openai()})

    def _replay(self, ctx: ChatContext, stored: bytes, fingerprint: str) -> ChatOutcome:
        data = orjson.loads(stored)
        if data["fingerprint"] != fingerprint:
            raise ValidationFailed(
                "This Idempotency-Key was used with a different request body.", code="idempotency_key_reused"
            )
        ctx.trace.flags.append("idempotent_replay")
        ctx.response_headers.append((b"idempotent-replayed", b"true"))
        result = ChatResult(body=data["body"], usage=Usage())  # nothing new was used, nothing is billed
        if ctx.request.stream:
            return StreamOutcome(replay(chunks_of(result.body)))
        return result

    async def _remember(self, key: str, fingerprint: str, chunks: ChunkStream) -> ChunkStream:
        """Pass the stream through; store the assembled answer once it completed."""
        parts: list[dict[str, Any]] = []
        complete = False
        try:
            async for chunk in chunks:
                parts.append(chunk)
                yield chunk
            complete = True
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            if complete:
                body, usage = assemble(parts)
                await self._store.complete(key, self._pack(fingerprint, body, usage), self._ttl)
            else:
                await self._store.release(key)
