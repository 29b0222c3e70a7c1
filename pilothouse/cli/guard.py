"""``pilothouse guard check|scan``: run guards over text from the command line.

Exit codes (for CI and red-team scripts): 0 nothing found, 1 findings, 2 unreadable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, err_console, fail, resolve_config
from pilothouse.guard.policy import GuardBook, TextGuard
from pilothouse.guard.scan import (
    Direction,
    GuardHit,
    check_text,
    default_guards,
    guards_of,
    record_texts,
    redacted_text,
)

app = typer.Typer(help="Check text against guard policies (PII, secrets, injection, content).")

PolicyOption = Annotated[
    str | None,
    typer.Option("--policy", "-p", help="a policy from the config (default: PII, secrets and injection)"),
]
DirectionOption = Annotated[
    str, typer.Option("--direction", "-d", help="which of the policy's guards: input, context or output")
]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per finding")]


def _guards(policy: str | None, direction: str, config_path: Path | None) -> tuple[TextGuard, ...]:
    if direction not in ("input", "context", "output"):
        fail(f"--direction must be input, context or output, not {direction!r}", code=2)
    if policy is None:
        return default_guards()
    book = GuardBook(resolve_config(config_path).guard)
    policies = book.policies()
    if policy not in policies:
        fail(f"unknown policy {policy!r} (known: {', '.join(sorted(policies)) or 'none'})", code=2)
    side: Direction = direction  # type: ignore[assignment]  # checked above
    return guards_of(policies[policy], side)


def _row(hit: GuardHit, text: str) -> list[str]:
    f = hit.finding
    return [hit.guard, hit.action, f.entity, f"{f.start}-{f.end}", f"{f.score:.2f}", f.detector]


def _json_line(hit: GuardHit, **where: object) -> str:
    return orjson.dumps(
        {**where, "guard": hit.guard, "action": hit.action, **hit.finding.describe()}
    ).decode()


@app.command("check")
def check(
    text: Annotated[str, typer.Argument(help="the text to check ('-' reads standard input)")],
    policy: PolicyOption = None,
    direction: DirectionOption = "input",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Print what the guards find in one text, and the text as a redacting policy would send it."""
    if text == "-":
        text = typer.get_text_stream("stdin").read()
    guards = _guards(policy, direction, config)
    hits = check_text(text, guards)
    if as_json:
        for hit in hits:
            typer.echo(_json_line(hit))
    else:
        if hits:
            table = Table("guard", "action", "entity", "span", "score", "detector")
            for hit in hits:
                table.add_row(*_row(hit, text))
            console.print(table)
            redacted = redacted_text(text, guards)
            if redacted != text:
                console.print("[bold]redacted:[/]", redacted, highlight=False, soft_wrap=True)
        else:
            console.print("no findings")
    raise typer.Exit(1 if hits else 0)


@app.command("scan")
def scan(
    file: Annotated[Path, typer.Argument(help="a JSONL file: strings, or objects with text or messages")],
    policy: PolicyOption = None,
    direction: DirectionOption = "input",
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Check every record of a JSONL file; a summary per entity at the end."""
    guards = _guards(policy, direction, config)
    try:
        lines = file.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}", code=2)
    counts: dict[tuple[str, str], int] = {}
    flagged_lines = bad_lines = 0
    table = Table("line", "guard", "action", "entity", "span", "score", "detector")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            err_console.print(f"{file}:{number}: invalid JSON: {exc}", highlight=False)
            bad_lines += 1
            continue
        hits = [hit for text in record_texts(record) for hit in check_text(text, guards)]
        flagged_lines += bool(hits)
        for hit in hits:
            counts[(hit.guard, hit.finding.entity)] = counts.get((hit.guard, hit.finding.entity), 0) + 1
            if as_json:
                typer.echo(_json_line(hit, line=number))
            else:
                table.add_row(str(number), *_row(hit, ""))
    if not as_json:
        if counts:
            console.print(table)
        summary = ", ".join(f"{entity} ({guard}) {n}" for (guard, entity), n in sorted(counts.items()))
        console.print(
            f"{flagged_lines} of {len(lines)} lines with findings" + (f": {summary}" if summary else "")
        )
    if bad_lines:
        err_console.print(f"{bad_lines} lines of {file} were not valid JSON", highlight=False)
        raise typer.Exit(2)
    raise typer.Exit(1 if counts else 0)
