"""Model adapters behind one protocol (``core.ports.Provider``), registered by name.

Built-ins register through the same ``pilothouse.providers`` entry-point group as plugins; the
SDK or native library of each adapter is imported only when that adapter is used.
"""

from pilothouse.providers.registry import build_provider, provider_class

__all__ = ["build_provider", "provider_class"]
