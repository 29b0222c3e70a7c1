"""Shared CLI helpers: finding the config, building the store, printing errors the same way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from pilothouse.core.config import Config, default_config, load_config
from pilothouse.core.env import CONFIG_PATH
from pilothouse.core.errors import ConfigError, PilothouseError
from pilothouse.store import SQLiteStore, open_store

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


def open_config_store(config: Config) -> SQLiteStore:
    try:
        return open_store(config.storage.url)
    except PilothouseError as exc:
        fail(exc.message, 2)
