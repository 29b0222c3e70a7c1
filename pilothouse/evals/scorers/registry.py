"""Scorers by name: built-ins and plugins register the same way.

A suite names a scorer as

- a built-in (``exact``, ``contains``, ``judge``...), registered with ``@scorer(name, options=Model)``;
- a plugin name from the entry-point group ``pilothouse.scorers`` (``name = "pkg.module:object"``);
- a dotted path ``package.module:function`` to any importable object.

A plugin or dotted-path object is either decorated with ``@scorer`` (a factory taking its validated
options, returning the scoring function) or a plain function ``fn(ctx, **options)`` returning a
``Score``, a float in [0, 1] or a bool. Synchronous custom functions run in a worker thread, so a
slow one cannot stall the event loop that drives the other cases.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points
from typing import Any, TypeVar

from pydantic import BaseModel

from pilothouse.evals.types import Score, ScoreContext

ENTRY_POINT_GROUP = "pilothouse.scorers"

ScoreFn = Callable[[ScoreContext], "Score | float | bool | Awaitable[Score | float | bool]"]
Factory = Callable[[Any], ScoreFn]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ScorerDef:
    name: str
    factory: Factory  # validated options (the options model, or a dict) -> scoring function
    options: type[BaseModel] | None = None
    blocking: bool = False  # a synchronous function that may take time: run it in a thread

    def build(self, options: Any) -> Callable[[ScoreContext], Awaitable[Score]]:
        fn = self.factory(options)
        threaded = self.blocking and not inspect.iscoroutinefunction(fn)

        async def run(ctx: ScoreContext) -> Score:
            result = await asyncio.to_thread(fn, ctx) if threaded else fn(ctx)
            if inspect.isawaitable(result):
                result = await result
            return as_score(result)

        return run


_BUILTINS: dict[str, ScorerDef] = {}


def as_score(result: object) -> Score:
    if isinstance(result, Score):
        return result
    if isinstance(result, bool):
        return Score(1.0 if result else 0.0, result)
    if isinstance(result, int | float):
        return Score(float(result))
    raise TypeError(f"a scorer must return a Score, a float in [0, 1] or a bool, not {type(result).__name__}")


def scorer(name: str, *, options: type[BaseModel] | None = None, blocking: bool = False) -> Callable[[F], F]:
    """Register a scorer factory under ``name``: ``factory(options) -> fn(ctx) -> Score``."""

    def register(factory: F) -> F:
        definition = ScorerDef(name, factory, options, blocking)
        factory.__pilothouse_scorer__ = definition  # type: ignore[attr-defined]  # marks a plugin
        if factory.__module__.startswith("pilothouse.evals.scorers."):
            _BUILTINS[name] = definition
        return factory

    return register


def _from_object(name: str, obj: object) -> ScorerDef:
    marked = getattr(obj, "__pilothouse_scorer__", None)
    if isinstance(marked, ScorerDef):
        return marked
    if not callable(obj):
        raise ValueError(f"scorer {name!r} is not callable")

    def plain(options: Any) -> ScoreFn:
        return partial(obj, **(options or {}))

    # A plain function takes its options as keyword arguments; sync ones go to a thread.
    return ScorerDef(name, plain, None, blocking=not inspect.iscoroutinefunction(obj))


def _builtins() -> dict[str, ScorerDef]:
    # Imported for their registrations; here so the registry module has no import cycle with them.
    from pilothouse.evals.scorers import model, safety, structured, text  # noqa: F401  (judge is in model)

    return _BUILTINS


def resolve_scorer(name: str) -> ScorerDef:
    """A built-in, then an entry-point plugin, then ``module:function``; ValueError if none."""
    builtins = _builtins()
    if name in builtins:
        return builtins[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _from_object(name, ep.load())
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"cannot import scorer module {module_name!r}: {exc}") from None
        obj = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None
            obj = getattr(obj, part)
        return _from_object(name, obj)
    known = ", ".join(sorted(builtins))
    raise ValueError(f"unknown scorer {name!r} (built-ins: {known}; or a plugin, or module:function)")


def builtin_names() -> list[str]:
    return sorted(_builtins())
