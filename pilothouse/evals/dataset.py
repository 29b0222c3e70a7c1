"""Eval datasets: JSONL (one case per line) or CSV (one case per row), read strictly.

A case has an ``id`` (stable: results, resumes, caching and comparisons join on it), the input as
template ``variables`` (for prompt targets) or chat ``messages`` (``input`` is shorthand for one user
message), and optionally ``context`` (retrieved passages), ``expected`` (output or behaviour),
``disallowed`` (strings that must not appear) and ``metadata`` (slices, e.g. ``topic: billing``).

CSV columns: ``id``, ``input``, ``expected``, ``context``, ``disallowed`` (a JSON list or ``|``-separated),
``messages`` and ``variables`` (JSON); ``metadata.KEY`` columns go to metadata; any other column is a
template variable. Every error names the file and the line.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pilothouse.core.errors import ConfigError

RESERVED_COLUMNS = {"id", "input", "expected", "context", "disallowed", "messages", "variables"}


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    variables: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    context: str | list[str] | None = None
    expected: Any = None
    disallowed: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _input_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "input" in data:
            data = dict(data)
            text = data.pop("input")
            if "messages" in data:
                raise ValueError("give either input or messages, not both")
            if not isinstance(text, str):
                raise ValueError("input must be a string (the user message)")
            data["messages"] = [{"role": "user", "content": text}]
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            data = {**data, "id": str(data["id"])}
        return data

    @field_validator("disallowed", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def input_text(self) -> str:
        """What a reviewer or a judge reads as the input."""
        if self.messages:
            return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in self.messages)
        return orjson.dumps(self.variables or {}).decode()

    def expectations(self) -> dict[str, Any]:
        """Everything a scorer may read besides the output: part of a score's cache key."""
        return {
            "expected": self.expected,
            "disallowed": self.disallowed,
            "context": self.context,
            "metadata": self.metadata,
        }


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _case(data: Any, where: str) -> Case:
    if not isinstance(data, dict):
        raise ConfigError("a case must be a JSON object", source=where)
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, path=_loc(tuple(first["loc"])), source=where) from None


def _read_jsonl(path: Path, text: str) -> list[tuple[int, Case]]:
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc}", source=f"{path}:{number}") from None
        cases.append((number, _case(data, f"{path}:{number}")))
    return cases


def _json_cell(value: str, column: str, where: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"column {column!r} must hold JSON: {exc}", source=where) from None


def _csv_row(row: dict[str, str], where: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for column, value in row.items():
        if column is None:
            raise ConfigError("more cells than header columns", source=where)
        if value is None or value == "":
            continue  # an empty cell is an absent field
        if column in ("messages", "variables"):
            data[column] = _json_cell(value, column, where)
        elif column == "disallowed":
            stripped = value.strip()
            if stripped.startswith("["):
                data[column] = _json_cell(stripped, column, where)
            else:
                data[column] = [part.strip() for part in value.split("|") if part.strip()]
        elif column in RESERVED_COLUMNS:
            data[column] = value
        elif column.startswith("metadata."):
            metadata[column.removeprefix("metadata.")] = value
        else:
            variables[column] = value
    if variables:
        data["variables"] = {**variables, **(data.get("variables") or {})}
    if metadata:
        data["metadata"] = metadata
    return data


def _read_csv(path: Path, text: str) -> list[tuple[int, Case]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise ConfigError("the header row must have an 'id' column", source=f"{path}:1")
    cases = []
    last = reader.line_num
    for row in reader:
        # A quoted cell may span lines: the row starts right after the previous one ended.
        number, last = last + 1, reader.line_num
        where = f"{path}:{number}"
        cases.append((number, _case(_csv_row(row, where), where)))
    return cases


def load_dataset(path: Path, *, need_messages: bool = False) -> tuple[list[Case], str]:
    """The cases of a ``.jsonl`` or ``.csv`` file and the hash of its content (part of the suite's).

    ``need_messages``: the suite has no prompts, so every case must carry its own messages."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read dataset: {exc.strerror}", source=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM from spreadsheet exports is not part of the first column
    except UnicodeDecodeError as exc:
        raise ConfigError(f"dataset is not UTF-8: {exc.reason}", source=str(path)) from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        numbered = _read_jsonl(path, text)
    elif suffix == ".csv":
        numbered = _read_csv(path, text)
    else:
        raise ConfigError("a dataset must be a .jsonl or .csv file", source=str(path))
    seen: dict[str, int] = {}
    for number, case in numbered:
        if case.id in seen:
            raise ConfigError(
                f"duplicate case id {case.id!r} (first on line {seen[case.id]})", source=f"{path}:{number}"
            )
        seen[case.id] = number
        if need_messages and not case.messages:
            raise ConfigError(
                "the suite has no prompts, so each case needs messages (or input)", source=f"{path}:{number}"
            )
    if not numbered:
        raise ConfigError("the dataset has no cases", source=str(path))
    return [case for _, case in numbered], hashlib.sha256(raw).hexdigest()
