from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from pilothouse.core.records import TraceRecord
from pilothouse.traces import BatchTraceWriter, TraceBuilder

pytestmark = pytest.mark.unit


class SlowStore:
    """A store whose writes block like a locked database would (in a thread, as the real one does)."""

    def __init__(self, delay: float = 0.0, fail_times: int = 0) -> None:
        self.delay = delay
        self.fail_times = fail_times
        self.batches: list[list[str]] = []

    async def write_traces(self, records: Sequence[TraceRecord]) -> None:
        await asyncio.to_thread(time.sleep, self.delay)
        self.delay = 0.0  # only the first write is slow
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("database is locked")
        self.batches.append([r.trace_id for r in records])

    async def get_trace(self, trace_id: str) -> TraceRecord | None:
        return None

    async def list_traces(self, **kwargs: Any) -> list[TraceRecord]:
        return []


def record(i: int) -> TraceRecord:
    return TraceRecord(trace_id=f"t{i:05d}", created_at=datetime.now(UTC), endpoint="chat.completions")


async def test_batches_and_flush() -> None:
    store = SlowStore()
    writer = BatchTraceWriter(store, batch_size=10, flush_interval=0.01)
    writer.start()
    for i in range(25):
        writer.submit(record(i))
    await asyncio.wait_for(writer.flush(), 5)
    await writer.stop()
    assert max(len(b) for b in store.batches) <= 10
    assert [t for b in store.batches for t in b] == [f"t{i:05d}" for i in range(25)]


async def test_slow_store_never_blocks_submit() -> None:
    store = SlowStore(delay=0.5)
    writer = BatchTraceWriter(store, batch_size=5, flush_interval=0.01)
    writer.start()
    writer.submit(record(0))
    await asyncio.sleep(0.05)  # the writer is now stuck in a 0.5 s write
    start = time.perf_counter()
    for i in range(1, 1000):
        writer.submit(record(i))
    assert time.perf_counter() - start < 0.25  # generous: submit is a list append, the write takes 0.5 s
    await writer.stop()
    assert sum(len(b) for b in store.batches) == 1000


async def test_failed_batches_are_retried_not_lost() -> None:
    store = SlowStore(fail_times=2)
    writer = BatchTraceWriter(store, batch_size=100, flush_interval=0.01)
    writer.start()
    for i in range(7):
        writer.submit(record(i))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.stop()
    assert writer.failures == 2
    assert sorted(t for b in store.batches for t in b) == [f"t{i:05d}" for i in range(7)]


async def test_stop_flushes_everything_left() -> None:
    store = SlowStore()
    writer = BatchTraceWriter(store, batch_size=1000, flush_interval=60)
    writer.start()
    for i in range(50):
        writer.submit(record(i))
    await writer.stop()
    assert sum(len(b) for b in store.batches) == 50


async def test_queue_bound_drops_oldest_and_counts() -> None:
    writer = BatchTraceWriter(SlowStore(), batch_size=1000, flush_interval=60, queue_max=10)
    for i in range(15):
        writer.submit(record(i))
    assert writer.pending == 10
    assert writer.dropped == 5


def test_builder_respects_payload_policy() -> None:
    builder = TraceBuilder("chat.completions")
    builder.messages = [{"role": "user", "content": "secret stuff"}]
    builder.output = {"role": "assistant", "content": "answer"}
    assert builder.finish(store_payloads="full").messages == builder.messages
    kept = builder.finish(store_payloads="none")
    assert kept.messages is None
    assert kept.output is None
