"""Sortable ids (time first, then randomness) and span ids, in OpenTelemetry's widths."""

from __future__ import annotations

import random
import time


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time: 48 bits of milliseconds, then 80 random bits.

    The same width as an OpenTelemetry trace id, so trace ids export as they are.
    """
    # Ids need uniqueness, not secrecy: the PRNG avoids a getrandom() syscall per id on the hot path.
    return f"{(int(time.time() * 1000) << 80) | random.getrandbits(80):032x}"


def new_span_id() -> str:
    """A 16-hex-digit span id (OpenTelemetry's width)."""
    return f"{random.getrandbits(64):016x}"
