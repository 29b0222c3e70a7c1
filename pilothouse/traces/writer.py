"""Background batch writer: requests hand records to ``submit`` (a list append), a task writes
them in batches. A slow or locked store delays only this task, never a request; ``stop`` flushes
everything left, so a clean shutdown loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from pilothouse.core.ports import TraceStore
from pilothouse.core.records import TraceRecord

log = logging.getLogger("pilothouse.traces")


class BatchTraceWriter:
    def __init__(
        self,
        store: TraceStore,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.1,
        queue_max: int = 200_000,
    ) -> None:
        self._store = store
        self._batch_size = batch_size
        self._interval = flush_interval
        self._queue: deque[TraceRecord] = deque()
        self._queue_max = queue_max
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.dropped = 0
        self.failures = 0

    def submit(self, record: TraceRecord) -> None:
        if len(self._queue) >= self._queue_max:
            # Memory is the last line: past it the oldest record goes, and the count says so.
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(record)
        self._idle.clear()
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pilothouse-trace-writer")

    async def _run(self) -> None:
        backoff = self._interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            if await self._write_some():
                backoff = self._interval
            else:
                backoff = min(backoff * 2, 5.0)
                await asyncio.sleep(backoff)

    async def _write_some(self) -> bool:
        """Write queued records in batches; False when the store failed (records are kept)."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                await self._store.write_traces(batch)
            except Exception:
                self.failures += 1
                log.exception("trace batch of %d failed; will retry", len(batch))
                self._queue.extendleft(reversed(batch))
                return False
            self.written += len(batch)
        self._idle.set()
        return True

    async def flush(self) -> None:
        """Wait until everything submitted so far is stored."""
        self._wake.set()
        await self._idle.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        for _ in range(3):  # a last few tries for what is left
            if await self._write_some():
                break
        if self._queue:
            log.error("%d trace records could not be stored at shutdown", len(self._queue))
