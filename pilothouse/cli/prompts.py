"""``pilothouse prompts push|pull|list|show|diff|promote|rollback|history``: the prompt registry,
worked on the store directly (no server needed; running gateways see changes within a second).

Versions are given as a number (``3``) or a label (``production``, ``staging``, ``latest``).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from rich.syntax import Syntax
from rich.table import Table

from pilothouse.bootstrap import build_prompt_registry
from pilothouse.cli.common import ConfigOption, console, resolve_config, run_with_store
from pilothouse.core.env import USER
from pilothouse.core.records import PromptEventRecord
from pilothouse.prompts import (
    PRODUCTION,
    PromptRegistry,
    PromptVersion,
    compile_prompt,
    parse_ref,
    pull_dir,
    push_dir,
    spec_to_yaml,
)

T = TypeVar("T")

app = typer.Typer(help="Version, label, promote and roll back prompts.", no_args_is_help=True)

DirOption = Annotated[Path, typer.Option("--dir", help="folder of prompt files (<name>.yaml)")]
WhoOption = Annotated[str | None, typer.Option("--who", help="who makes the change (default: $USER)")]
WhyOption = Annotated[str, typer.Option("--why", help="why: recorded in the prompt's history")]
LabelOption = Annotated[str, typer.Option("--label", "-l", help="label to move")]


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return os.environ.get(USER) or getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "unknown"


def _selector(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _on_registry(config: Path | None, work: Callable[[PromptRegistry], Awaitable[T]]) -> T:
    return run_with_store(resolve_config(config), lambda store: work(build_prompt_registry(store)))


def _when(event: PromptEventRecord) -> str:
    return event.at.strftime("%Y-%m-%d %H:%M:%S")


@app.command("push")
def push(
    names: Annotated[list[str] | None, typer.Argument(help="only these prompts (default: all files)")] = None,
    directory: DirOption = Path("prompts"),
    who: WhoOption = None,
    why: WhyOption = "",
    config: ConfigOption = None,
) -> None:
    """Register each prompt file whose content changed as a new version (unchanged files are no-ops)."""
    results = _on_registry(
        config, lambda reg: push_dir(reg, directory, who=_who(who), why=why, names=names or ())
    )
    table = Table("file", "prompt", "version", "status", "hash")
    for path, result in results:
        v = result.version
        status = "[green]new version[/]" if result.created else "unchanged"
        table.add_row(str(path), v.name, str(v.version), status, v.record.content_hash[:19])
    console.print(table)


@app.command("pull")
def pull(
    names: Annotated[list[str] | None, typer.Argument(help="only these prompts (default: all)")] = None,
    directory: DirOption = Path("prompts"),
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="number or label (default: the newest)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write registry versions back as prompt files."""
    selector = _selector(version) if version else None
    written = _on_registry(config, lambda reg: pull_dir(reg, directory, selector=selector, names=names or ()))
    table = Table("file", "prompt", "version", "hash")
    for path, v in written:
        table.add_row(str(path), v.name, str(v.version), v.record.content_hash[:19])
    console.print(table)


@app.command("list")
def list_prompts(config: ConfigOption = None) -> None:
    """Every prompt with its newest version and its labels."""
    summaries = _on_registry(config, lambda reg: reg.list_prompts())
    table = Table("prompt", "latest", "labels", "updated (UTC)", "description")
    for s in summaries:
        labels = ", ".join(f"{label}={v}" for label, v in sorted(s.labels.items()))
        table.add_row(
            s.name,
            str(s.latest.version),
            labels,
            s.updated_at.strftime("%Y-%m-%d %H:%M"),
            s.latest.spec.description,
        )
    console.print(table)


def _variables(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--var")
        try:
            out[key] = orjson.loads(raw)  # lists, numbers, objects; anything else is text
        except orjson.JSONDecodeError:
            out[key] = raw
    return out


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@LABEL or NAME@VERSION (NAME: @production)")],
    var: Annotated[
        list[str] | None, typer.Option("--var", help="KEY=VALUE: render the messages with these")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """One version: who pushed it and why, the labels on it, its file, and optionally its rendering."""
    name, selector = parse_ref(ref)
    variables = _variables(var) if var else None

    async def work(reg: PromptRegistry) -> tuple[PromptVersion, dict[str, int]]:
        return await reg.get(name, selector), await reg.labels(name)

    found, labels = _on_registry(config, work)
    record = found.record
    on_it = sorted(label for label, v in labels.items() if v == found.version)
    console.print(f"[bold]{found.ref}[/]  {record.content_hash}", highlight=False)
    console.print(
        f"pushed {record.created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC by {record.created_by}"
        + (f": {record.why}" if record.why else ""),
        highlight=False,
    )
    console.print(f"labels: {', '.join(on_it) or '-'}", highlight=False)
    console.rule()
    console.print(Syntax(spec_to_yaml(found.spec), "yaml", theme="ansi_dark", background_color="default"))
    if variables is not None:
        console.rule("rendered")
        for message in compile_prompt(found.spec, found.version).render(variables):
            console.print(f"[bold]{message['role']}[/]: {message['content']}", highlight=False)


@app.command("diff")
def diff(
    name: Annotated[str, typer.Argument(help="prompt name")],
    a: Annotated[str, typer.Argument(help="version number or label")],
    b: Annotated[str, typer.Argument(help="version number or label")] = "latest",
    config: ConfigOption = None,
) -> None:
    """A unified diff of two versions (templates, params, variables, schema, tools)."""
    text = _on_registry(config, lambda reg: reg.diff(name, _selector(a), _selector(b)))
    if not text:
        console.print("no differences")
        return
    console.print(Syntax(text, "diff", theme="ansi_dark", background_color="default"))


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="prompt name")],
    version: Annotated[str, typer.Argument(help="version number, or a label whose version to take")],
    label: LabelOption = PRODUCTION,
    who: WhoOption = None,
    why: WhyOption = "",
    force: Annotated[
        bool, typer.Option("--force", help="move production without a passing eval gate (needs --why)")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Point a label at a version. Production needs a passing gated eval run, or --force --why."""
    event = _on_registry(
        config,
        lambda reg: reg.promote(name, _selector(version), label, who=_who(who), why=why, force=force),
    )
    if event is None:
        console.print(f"{label} of {name} already points at that version.")
        return
    moved = f"from version {event.from_version} " if event.from_version is not None else ""
    console.print(f"{name}: {label} moved {moved}to version {event.version}.", highlight=False)
    if event.forced:
        console.print(f"[yellow]forced without a passing eval gate:[/] {event.why}", highlight=False)


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="prompt name")],
    label: LabelOption = PRODUCTION,
    who: WhoOption = None,
    why: WhyOption = "",
    config: ConfigOption = None,
) -> None:
    """Return a label to the version it held before its last promotion."""
    event = _on_registry(config, lambda reg: reg.rollback(name, label, who=_who(who), why=why))
    console.print(
        f"{name}: {label} rolled back from version {event.from_version} to version {event.version}.",
        highlight=False,
    )


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="prompt name")],
    label: Annotated[str | None, typer.Option("--label", "-l", help="only this label's moves")] = None,
    config: ConfigOption = None,
) -> None:
    """Every push, promotion and rollback of a prompt: who, when, what and why."""
    events = _on_registry(config, lambda reg: reg.history(name, label=label))
    table = Table("#", "time (UTC)", "who", "change", "label", "version", "from", "why")
    for e in events:
        change = e.kind + (" [yellow](forced)[/]" if e.forced else "")
        table.add_row(
            str(e.seq),
            _when(e),
            e.who,
            change,
            e.label or "",
            str(e.version),
            str(e.from_version) if e.from_version is not None else "",
            e.why,
        )
    console.print(table)
