"""Shared CLI helpers: finding the config, building the store, printing errors the same way."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from pilothouse.core.config import Config, default_config, load_config
from pilothouse.core.env import CONFIG_PATH
from pilothouse.core.errors import ConfigError, PilothouseError
from pilothouse.store import Store, open_store

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="pilothouse.yaml (default: $PILOTHOUSE_CONFIG, ./pilothouse.yaml, or built-in defaults)",
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def resolve_config(path: Path | None) -> Config:
    """Explicit path, then $PILOTHOUSE_CONFIG, then ./pilothouse.yaml, then the embedded defaults."""
    if path is None and os.environ.get(CONFIG_PATH):
        path = Path(os.environ[CONFIG_PATH])
    if path is None and Path("pilothouse.yaml").exists():
        path = Path("pilothouse.yaml")
    try:
        return load_config(path) if path is not None else default_config()
    except ConfigError as exc:
        fail(exc.message, 2)


def open_config_store(config: Config) -> Store:
    try:
        return open_store(config.storage.url)
    except PilothouseError as exc:
        fail(exc.message, 2)


def run_with_store(config: Config, work: Callable[[Store], Awaitable[T]]) -> T:
    """Connect the configured store, run ``work`` on it and close it, all in one event loop (a
    PostgreSQL pool belongs to the loop that opened it). Store errors print and exit 1."""
    store = open_config_store(config)

    async def main() -> T:
        try:
            await store.connect()
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main())
    except PilothouseError as exc:
        fail(exc.message)
