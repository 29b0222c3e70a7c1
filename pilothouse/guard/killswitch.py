"""The kill switch across replicas and restarts: routes and tools an operator switched off.

What is off is the union of the config's ``guard.kill`` (changed by a deploy) and the switches set
at run time through the admin API, which are kept in the store (``meta`` table), so they survive a
restart and reach every replica sharing the store: each polls it every ``interval`` seconds (one
small read), and the replica that takes a change applies it at once. The hot path only reads the
book's sets in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson

from pilothouse.core.ports import SettingsStore
from pilothouse.guard.policy import GuardBook

log = logging.getLogger("pilothouse.guard")
SETTING = "guard.kill"


class KillSwitchSync:
    def __init__(self, book: GuardBook, store: SettingsStore, *, interval: float = 1.0) -> None:
        self._book = book
        self._store = store
        self._interval = interval
        self._configured = (frozenset(book.kill.routes), frozenset(book.kill.tools))
        self.switched: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll(), name="pilothouse-kill-switch")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def set(self, routes: set[str], tools: set[str]) -> None:
        """Replace the run-time switches (config's stay on) for every replica."""
        await self._store.put_setting(
            SETTING, orjson.dumps({"routes": sorted(routes), "tools": sorted(tools)}).decode()
        )
        self._apply(frozenset(routes), frozenset(tools))

    async def refresh(self) -> None:
        raw = await self._store.get_setting(SETTING)
        if raw is None:
            return
        try:
            data = orjson.loads(raw)
            routes, tools = frozenset(map(str, data["routes"])), frozenset(map(str, data["tools"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.error("ignoring an unreadable kill switch setting in the store: %r", raw[:200])
            return
        self._apply(routes, tools)

    def _apply(self, routes: frozenset[str], tools: frozenset[str]) -> None:
        if (routes, tools) != self.switched:
            log.warning("kill switch: routes=%s tools=%s", sorted(routes), sorted(tools))
        self.switched = (routes, tools)
        kill = self._book.kill
        kill.routes = set(self._configured[0] | routes)
        kill.tools = set(self._configured[1] | tools)

    @property
    def configured(self) -> tuple[frozenset[str], frozenset[str]]:
        return self._configured

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception as exc:  # a store hiccup must not end the polling
                log.warning("cannot read the kill switch from the store: %r", exc)
