"""Persistence: a versioned schema with forward-only migrations, one repository per capability.

``open_store(url)`` picks the backend from the URL; SQLite (WAL) is the default, PostgreSQL
(``pilothouse.store.postgres``, extra ``postgres``) serves many replicas.
"""

from pilothouse.store.base import Store
from pilothouse.store.factory import open_store
from pilothouse.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store", "open_store"]
