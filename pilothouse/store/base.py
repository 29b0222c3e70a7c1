"""What every store backend offers, and the facts about the schema that the backends share."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from pilothouse.core.ports import KeyStore, SpendStore, TraceStore

# Money is stored as an integer count of nano-USD: exact, and summable without float drift.
NANO = Decimal(1_000_000_000)

# Trace columns a caller may filter on, mapped to their SQL column.
TRACE_FILTERS = {
    "key_id": "key_id",
    "team_id": "team_id",
    "model": "requested_model",
    "status": "status",
    "provider": "provider",
    "route": "route",
}


def to_nanos(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value())


class Store(KeyStore, TraceStore, SpendStore, Protocol):
    """A backend's whole surface, as the composition root and the CLI hold it.

    ``connect`` runs inside the event loop that will use the store (a connection pool belongs to
    one loop) and applies pending migrations; ``aclose`` releases connections and threads.
    """

    async def connect(self) -> None: ...

    async def aclose(self) -> None: ...

    async def count_traces(self) -> int: ...
