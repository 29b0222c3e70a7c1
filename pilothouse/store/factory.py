"""Pick a store backend from the storage URL."""

from __future__ import annotations

from pilothouse.core.errors import ConfigError
from pilothouse.store.sqlite import SQLiteStore


def open_store(url: str) -> SQLiteStore:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``."""
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        raise ConfigError("the PostgreSQL store is not available in this version", path="storage.url")
    raise ConfigError(
        f"unsupported storage URL scheme {scheme!r} (expected sqlite:///PATH)", path="storage.url"
    )
