"""Response caching: exact and semantic, per route and per tenant, in process or shared through Redis.

A sibling of routing and limits: it imports ``core`` only and reaches embedding models through the
``TextEmbedder`` port. The gateway stage that drives it is ``gateway.stages_cache``.
"""

from pilothouse.cache.backend import CacheBackend
from pilothouse.cache.build import build_response_cache
from pilothouse.cache.entry import CachedAnswer, as_completion
from pilothouse.cache.keys import CacheKey, cache_key, tenant_scope
from pilothouse.cache.memory import MemoryBackend
from pilothouse.cache.policy import Decision, decide, unstorable_reason
from pilothouse.cache.redis_backend import RedisBackend
from pilothouse.cache.service import Lookup, ResponseCache, RouteCache

__all__ = [
    "CacheBackend",
    "CacheKey",
    "CachedAnswer",
    "Decision",
    "Lookup",
    "MemoryBackend",
    "RedisBackend",
    "ResponseCache",
    "RouteCache",
    "as_completion",
    "build_response_cache",
    "cache_key",
    "decide",
    "tenant_scope",
    "unstorable_reason",
]
