"""Prompt references resolved for the gateway from memory: no database read per request.

The resolver holds every label's version and compiled prompts (versions are immutable, so a
compiled version never goes stale). A background task polls the store's change count, one cheap
query, every ``refresh_interval`` seconds and reloads the labels when it moved; changes made
through this process's registry call ``refresh`` directly and apply at once. A failed poll keeps
serving what is cached (stale beats down) and tries again on the next tick.

A pinned version (``name@3``) not cached yet is read once and then kept; a version found missing is
remembered as missing until the next change, so a bad reference cannot become a read per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from pilothouse.core.errors import NotFound, PilothouseError
from pilothouse.core.ports import PromptStore
from pilothouse.prompts.render import CompiledPrompt, compile_prompt
from pilothouse.prompts.spec import LATEST, PromptSpec, parse_ref

log = logging.getLogger("pilothouse.prompts")


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    name: str
    version: int
    label: str | None  # the label the reference followed; None for a pinned version
    prompt: CompiledPrompt

    @property
    def spec(self) -> PromptSpec:
        return self.prompt.spec


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: int
    by_label: dict[str, dict[str, int]]  # label -> prompt name -> version
    latest: dict[str, int]  # prompt name -> newest version


@contextlib.contextmanager
def _logged(name: str, version: int) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        log.error("cannot load prompt %s@%s: %r", name, version, exc)


class PromptResolver:
    def __init__(self, store: PromptStore, *, refresh_interval: float = 1.0) -> None:
        self._store = store
        self._interval = refresh_interval
        self._snapshot: _Snapshot | None = None
        self._compiled: dict[tuple[str, int], CompiledPrompt] = {}
        self._missing: set[tuple[str, int]] = set()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll(), name="pilothouse-prompt-refresh")

    async def aclose(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self, *, only_if_changed: bool = False) -> None:
        """Reload labels (and compile the versions they hold) unless nothing changed since the last load."""
        async with self._lock:
            # The stamp is read first: a change landing during the load leaves it behind, and the
            # next poll loads again rather than missing the change.
            stamp = await self._store.prompt_change_count()
            if only_if_changed and self._snapshot is not None and self._snapshot.stamp == stamp:
                return
            labels = await self._store.prompt_labels()
            newest = await self._store.latest_prompt_versions()
            for record in newest:
                with _logged(record.name, record.version):
                    self._keep(record.name, record.version, PromptSpec.model_validate(record.spec))
            for name, version in {(r.name, r.version) for r in labels}:
                if (name, version) not in self._compiled:
                    with _logged(name, version):  # one broken version must not stop the others loading
                        await self._load(name, version)
            self._missing = set()
            by_label: dict[str, dict[str, int]] = {}
            for r in labels:
                by_label.setdefault(r.label, {})[r.name] = r.version
            self._snapshot = _Snapshot(stamp, by_label, {r.name: r.version for r in newest})

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh(only_if_changed=True)
            except Exception as exc:
                log.warning("prompt refresh failed, serving cached prompts: %r", exc)

    async def resolve(self, ref: str) -> ResolvedPrompt:
        """``name``, ``name@label`` or ``name@3`` to a compiled version; ``NotFound`` (404) otherwise."""
        name, selector = parse_ref(ref)
        snapshot = self._snapshot
        if snapshot is None:  # not started (a tool using the resolver directly): load once
            await self.refresh()
            snapshot = self._snapshot
            assert snapshot is not None
        label: str | None = None
        if isinstance(selector, int):
            version = selector
        else:
            label = selector
            held = snapshot.latest if selector == LATEST else snapshot.by_label.get(selector, {})
            found = held.get(name)
            if found is None:
                if name not in snapshot.latest:
                    raise NotFound(
                        f"The prompt '{name}' does not exist.", param="prompt", code="prompt_not_found"
                    )
                raise NotFound(
                    f"The prompt '{name}' has no label '{selector}'.",
                    param="prompt",
                    code="prompt_label_not_found",
                )
            version = found
        compiled = self._compiled.get((name, version)) or await self._load(name, version)
        return ResolvedPrompt(name, version, label, compiled)

    async def _load(self, name: str, version: int) -> CompiledPrompt:
        key = (name, version)
        if key not in self._missing:
            record = await self._store.get_prompt_version(name, version)
            if record is not None:
                return self._keep(name, version, PromptSpec.model_validate(record.spec))
            self._missing.add(key)
        raise NotFound(
            f"The prompt '{name}' has no version {version}.", param="prompt", code="prompt_version_not_found"
        )

    def _keep(self, name: str, version: int, spec: PromptSpec) -> CompiledPrompt:
        found = self._compiled.get((name, version))
        if found is None:
            try:
                found = compile_prompt(spec, version)
            except Exception as exc:  # validated at push; a template engine upgrade could still break one
                raise PilothouseError(f"Prompt '{name}@{version}' does not compile: {exc}") from exc
            self._compiled[(name, version)] = found
        return found
