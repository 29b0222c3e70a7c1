"""Persistence: a versioned schema with forward-only migrations, one repository per capability.

``open_store(url)`` picks the backend from the URL; SQLite (WAL) is the default.
"""

from pilothouse.store.factory import open_store
from pilothouse.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "open_store"]
