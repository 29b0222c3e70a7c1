"""Resolve the routes' cache settings into a ``ResponseCache`` (called by the composition root)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pilothouse.cache.backend import CacheBackend
from pilothouse.cache.memory import MemoryBackend
from pilothouse.cache.redis_backend import RedisBackend
from pilothouse.cache.service import ResponseCache, RouteCache
from pilothouse.core.config import Config
from pilothouse.core.errors import ConfigError
from pilothouse.core.ports import TextEmbedder

if TYPE_CHECKING:
    from redis.asyncio import Redis


def build_response_cache(
    config: Config,
    *,
    redis: Redis | None,
    embedder_for: Callable[[str], TextEmbedder],
) -> ResponseCache | None:
    """None when no route caches: the pipeline then has no cache stage at all.

    ``embedder_for`` turns an embedding model name into an embedder (routing lives above this layer).
    Semantic caching without ``embedding_model`` uses the first embedding model in ``models``.
    """
    embedding_models = [m.name for m in config.models if m.kind == "embedding"]
    embedders: dict[str, TextEmbedder] = {}
    routes: dict[str, RouteCache] = {}
    for i, route in enumerate(config.routes):
        cache = route.cache
        if cache is None or not (cache.exact or cache.semantic):
            continue
        model: str | None = None
        if cache.semantic:
            model = cache.embedding_model or next(iter(embedding_models), None)
            if model is None:
                raise ConfigError(
                    "semantic caching needs an embedding model: add one to models (kind: embedding)",
                    path=f"routes[{i}].cache.semantic",
                )
            if model not in embedding_models:
                raise ConfigError(
                    f"{model!r} is not an embedding model", path=f"routes[{i}].cache.embedding_model"
                )
            if model not in embedders:
                embedders[model] = embedder_for(model)
        routes[route.name] = RouteCache(route.name, cache, embedders.get(model or ""), model)
    if not routes:
        return None
    backend: CacheBackend
    if redis is not None:
        backend = RedisBackend(redis, prefix=config.redis.key_prefix if config.redis else "pilothouse:")
    else:
        backend = MemoryBackend()
    return ResponseCache(backend, routes)
