"""The storage protocol behind the response cache: one in-process, one in Redis.

Entries are opaque bytes under the exact key. Semantic candidates are (entry key, packed vector)
pairs grouped in buckets (see ``keys``); each bucket holds a bounded number, oldest dropped first.
Similarity is computed in the gateway process, so a plain Redis server is enough.
"""

from __future__ import annotations

from typing import Protocol


class CacheBackend(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> None: ...

    async def candidates(self, bucket: str) -> list[tuple[str, bytes]]:
        """Live (entry key, packed vector) pairs of a bucket; expired ones are left out."""
        ...

    async def add_candidate(self, bucket: str, key: str, vector: bytes, ttl: int) -> None: ...
