"""Scorers over structure and operations: json_valid, json_schema, tool_called, latency, cost."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import orjson
from pydantic import Field, ValidationInfo, field_validator, model_validator

from pilothouse.evals.scorers.registry import ScoreFn, scorer
from pilothouse.evals.scorers.text import Options
from pilothouse.evals.types import Score, ScoreContext, verdict

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)


def parse_json_output(text: str, *, strip_fences: bool = True) -> tuple[Any, str | None]:
    """The output as JSON (a Markdown code fence around it removed), or the parse error."""
    if strip_fences:
        fenced = _FENCE.match(text)
        if fenced:
            text = fenced.group(1)
    try:
        return orjson.loads(text), None
    except orjson.JSONDecodeError as exc:
        return None, str(exc)


class JsonOptions(Options):
    strip_fences: bool = True


@scorer("json_valid", options=JsonOptions)
def json_valid(opts: JsonOptions) -> ScoreFn:
    def score(ctx: ScoreContext) -> Score:
        _, error = parse_json_output(ctx.output.text, strip_fences=opts.strip_fences)
        return verdict(error is None, "valid JSON" if error is None else f"invalid JSON: {error}")

    return score


class SchemaOptions(Options):
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    schema_file: str | None = Field(None, description="path relative to the suite file")
    strip_fences: bool = True

    @field_validator("schema_file")
    @classmethod
    def _read(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        base = Path((info.context or {}).get("base_dir", "."))
        path = base / value
        if not path.is_file():
            raise ValueError(f"schema file {path} does not exist")
        return str(path)

    @model_validator(mode="after")
    def _one_schema(self) -> SchemaOptions:
        if (self.schema_ is None) == (self.schema_file is None):
            raise ValueError("give exactly one of schema or schema_file")
        if self.schema_file is not None:
            # Loaded now, into the options: the file's content (not its name) is then part of the
            # score's cache key, so editing the schema re-scores.
            try:
                data = orjson.loads(Path(self.schema_file).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ValueError(f"cannot read schema file {self.schema_file}: {exc}") from None
            if not isinstance(data, dict):
                raise ValueError(f"schema file {self.schema_file} must hold a JSON object")
            object.__setattr__(self, "schema_", data)
        try:
            jsonschema.validators.validator_for(self.resolved()).check_schema(self.resolved())
        except jsonschema.SchemaError as exc:
            raise ValueError(f"invalid JSON Schema: {exc.message}") from None
        return self

    def resolved(self) -> dict[str, Any]:
        assert self.schema_ is not None  # set by the validator
        return self.schema_


@scorer("json_schema", options=SchemaOptions)
def json_schema(opts: SchemaOptions) -> ScoreFn:
    schema = opts.resolved()
    validator = jsonschema.validators.validator_for(schema)(schema)

    def score(ctx: ScoreContext) -> Score:
        data, error = parse_json_output(ctx.output.text, strip_fences=opts.strip_fences)
        if error is not None:
            return verdict(False, f"invalid JSON: {error}")
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if not errors:
            return verdict(True, "matches the schema")
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        return verdict(False, f"{where}: {first.message}", errors=len(errors))

    return score


class ToolOptions(Options):
    name: str | None = Field(None, description="default: the case's expected['tool']")
    arguments: dict[str, Any] | None = Field(None, description="a subset the call's arguments must contain")


def is_subset(expected: Any, actual: Any) -> bool:
    """Every key of ``expected`` is in ``actual`` with a matching value (recursively for objects)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and is_subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


@scorer("tool_called", options=ToolOptions)
def tool_called(opts: ToolOptions) -> ScoreFn:
    """The output calls the named tool, with arguments containing the expected subset."""

    def score(ctx: ScoreContext) -> Score:
        expected = ctx.case.expected if isinstance(ctx.case.expected, dict) else {}
        name = opts.name or expected.get("tool")
        wanted_args = opts.arguments if opts.arguments is not None else expected.get("arguments")
        if not name:
            return verdict(False, "no tool name (options.name or expected.tool)")
        calls = [c.get("function") or {} for c in ctx.output.tool_calls]
        named = [c for c in calls if c.get("name") == name]
        if not named:
            seen = ", ".join(str(c.get("name")) for c in calls) or "none"
            return verdict(False, f"{name} was not called (calls: {seen})")
        if wanted_args is None:
            return verdict(True, f"{name} called")
        for call in named:
            raw = call.get("arguments")
            try:
                args = orjson.loads(raw) if isinstance(raw, str) else raw
            except orjson.JSONDecodeError:
                continue
            if is_subset(wanted_args, args):
                return verdict(True, f"{name} called with the expected arguments")
        return verdict(False, f"{name} called, but not with arguments containing {wanted_args}")

    return score


class LatencyOptions(Options):
    max_ms: float = Field(gt=0)


@scorer("latency", options=LatencyOptions)
def latency(opts: LatencyOptions) -> ScoreFn:
    """The request (as the harness timed it, end to end through the gateway) took at most ``max_ms``."""

    def score(ctx: ScoreContext) -> Score:
        took = ctx.output.latency_ms
        return verdict(took <= opts.max_ms, f"{took:.0f} ms (ceiling {opts.max_ms:.0f} ms)", latency_ms=took)

    return score


class CostOptions(Options):
    max_usd: Decimal = Field(ge=0)


@scorer("cost", options=CostOptions)
def cost(opts: CostOptions) -> ScoreFn:
    """The call cost at most ``max_usd``: usage priced by the serving model's price table."""

    def score(ctx: ScoreContext) -> Score:
        spent = ctx.output.cost_usd
        if spent is None:
            return verdict(False, f"unknown cost: no price for model {ctx.output.served_model!r}")
        return verdict(spent <= opts.max_usd, f"${spent:.6f} (ceiling ${opts.max_usd})", cost_usd=str(spent))

    return score
