"""Pick a store backend from the storage URL: the one place that knows which backends exist."""

from __future__ import annotations

from pilothouse.core.errors import ConfigError
from pilothouse.store.base import Store
from pilothouse.store.sqlite import SQLiteStore


def open_store(url: str) -> Store:
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``, or
    ``postgresql://user@host:port/database`` (``postgres://`` too; libpq's URL syntax and parameters).

    The store is not usable until ``await store.connect()`` in the event loop that will use it.
    """
    if url.startswith("sqlite:///"):
        return SQLiteStore(url.removeprefix("sqlite:///"))
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        try:
            # Imported here: psycopg is the optional extra ``postgres``, not needed for SQLite.
            from pilothouse.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigError(
                f"a PostgreSQL storage URL needs the 'postgres' extra (pip install 'pilothouse[postgres]'):"
                f" {exc}",
                path="storage.url",
            ) from exc
        return PostgresStore(url)
    raise ConfigError(
        f"unsupported storage URL scheme {scheme!r} (expected sqlite:///PATH or postgresql://...)",
        path="storage.url",
    )
