"""``pilothouse init``: write a commented starter project."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

import typer

from pilothouse.cli.common import console, fail


def init(
    directory: Annotated[Path, typer.Argument(help="where to create the project")] = Path("."),
    force: Annotated[bool, typer.Option(help="overwrite an existing pilothouse.yaml")] = False,
) -> None:
    """Write pilothouse.yaml (commented) and a .gitignore entry for local state."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "pilothouse.yaml"
    if target.exists() and not force:
        fail(f"{target} exists (use --force to overwrite)")
    target.write_text(files("pilothouse.cli").joinpath("templates/pilothouse.yaml").read_text())
    ignore = directory / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if ".pilothouse/" not in lines:
        ignore.write_text("\n".join([*lines, ".pilothouse/"]) + "\n")
    console.print(f"Wrote {target}. Next: [bold]pilothouse serve --config {target}[/]")
