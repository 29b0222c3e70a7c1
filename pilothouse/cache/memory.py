"""The in-process backend: bounded LRU maps with a deadline per entry (the single-process default)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryBackend:
    name = "memory"

    def __init__(
        self,
        *,
        max_entries: int = 10_000,
        max_buckets: int = 1_000,
        max_per_bucket: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_entries = max_entries
        self._max_buckets = max_buckets
        self._max_per_bucket = max_per_bucket
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._buckets: OrderedDict[str, OrderedDict[str, tuple[float, bytes]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        item = self._entries.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return item[1]

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def candidates(self, bucket: str) -> list[tuple[str, bytes]]:
        vectors = self._buckets.get(bucket)
        if vectors is None:
            return []
        now = self._clock()
        expired = [key for key, (deadline, _) in vectors.items() if deadline <= now]
        for key in expired:
            del vectors[key]
        if not vectors:
            del self._buckets[bucket]
            return []
        self._buckets.move_to_end(bucket)
        return [(key, blob) for key, (_, blob) in vectors.items()]

    async def add_candidate(self, bucket: str, key: str, vector: bytes, ttl: int) -> None:
        vectors = self._buckets.get(bucket)
        if vectors is None:
            vectors = self._buckets[bucket] = OrderedDict()
        vectors[key] = (self._clock() + ttl, vector)
        vectors.move_to_end(key)
        self._buckets.move_to_end(bucket)
        while len(vectors) > self._max_per_bucket:
            vectors.popitem(last=False)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
