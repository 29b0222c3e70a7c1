"""Work that must stay off the request path: budget alerts and their webhooks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

log = logging.getLogger("pilothouse.limits")


class Background:
    """Runs coroutines as tasks it keeps referenced; ``aclose`` waits for them (bounded) and closes
    the HTTP session used for webhooks."""

    def __init__(self, *, webhook_timeout: float = 5.0) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._timeout = webhook_timeout
        self._session: aiohttp.ClientSession | None = None
        self.webhook_failures = 0

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background limits task failed", exc_info=task.exception())

    async def post(self, url: str, payload: dict[str, Any]) -> bool:
        """POST JSON; failures are logged and counted, never raised."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        try:
            async with self._session.post(url, json=payload) as response:
                if response.status < 300:
                    return True
                log.warning("budget webhook %s answered HTTP %s", url, response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("budget webhook %s failed: %r", url, exc)
        self.webhook_failures += 1
        return False

    async def aclose(self, timeout: float = 5.0) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
