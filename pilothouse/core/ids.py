"""Sortable ids (time first, then randomness) and span ids, in OpenTelemetry's widths."""

from __future__ import annotations

import random
import threading
import time


class _Monotonic:
    """Keeps ids strictly increasing within the process (ULID's monotonic mode)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> int:
        # Ids need uniqueness, not secrecy: the PRNG avoids a getrandom() syscall per id.
        candidate = (int(time.time() * 1000) << 80) | random.getrandbits(80)
        with self._lock:
            self._last = candidate if candidate > self._last else self._last + 1
            return self._last


_ids = _Monotonic()


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time: 48 bits of milliseconds, then 80 random bits.

    The same width as an OpenTelemetry trace id, so trace ids export as they are. Within a process
    ids are strictly increasing (within one millisecond the next id is the last plus one), so
    "newest first" by id is exact even for ids made in the same instant.
    """
    return f"{_ids.next():032x}"


def new_span_id() -> str:
    """A 16-hex-digit span id (OpenTelemetry's width)."""
    return f"{random.getrandbits(64):016x}"
