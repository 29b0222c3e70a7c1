"""JSON answers and JSON Schemas, shared by cascade checks (routing) and output guards.

Schemas are checked and compiled once per distinct schema (an LRU keyed by canonical JSON), and
``$ref`` resolves only inside the schema: a remote reference is never fetched (schemas may come
from clients: fetching them would be a server-side request forgery).
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import Annotated, Any

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import jsonschema.validators
import referencing
import referencing.exceptions
from pydantic import AfterValidator

_MAX_ERRORS = 3  # reported; more are counted
_SCANNED_ERRORS = 50  # a huge wrong array must not make validation slow


def canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> jsonschema.protocols.Validator:
    schema = json.loads(canonical)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = exc.json_path if exc.path else "the schema"
        raise ValueError(f"invalid JSON Schema at {where}: {_clip(exc.message)}") from None
    # An empty registry: "$ref" to anything but the schema itself (and the standard meta-schemas)
    # fails instead of being fetched over the network (client-supplied schemas would be an SSRF).
    return cls(schema, registry=referencing.Registry())


def compiled_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for ``schema``, checked and compiled once per distinct schema (an LRU of 256,
    keyed by the canonical JSON). ``ValueError`` when the schema itself is invalid."""
    return _compiled(canonical(schema))


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the problem when ``schema`` is not a valid JSON Schema: call it
    when loading config, and on a request's ``response_format`` before the provider call (a 400)."""
    compiled_validator(schema)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_json(text: str) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, error)`` with the parser's reason and position."""
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
        return None, f"not valid JSON: {exc}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _without_values(error: jsonschema.exceptions.ValidationError) -> str:
    """What failed, from the schema's side only: no value of the instance appears."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        return f"expected type {json.dumps(expected)}"
    if keyword == "required":
        return _clip(error.message)  # the property name comes from the schema
    if keyword in ("enum", "const"):
        return _clip(f"expected {'one of ' if keyword == 'enum' else ''}{json.dumps(expected, default=str)}")
    if keyword in ("anyOf", "oneOf", "allOf", "not", "if", "then", "else"):
        return f"does not satisfy '{keyword}'"
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return "has properties the schema does not allow"
    return _clip(f"fails '{keyword}': {json.dumps(expected, default=str)}")


def schema_errors(value: Any, schema: dict[str, Any], *, show_values: bool = True) -> str | None:
    """``None`` when ``value`` satisfies ``schema``, else the most relevant errors (``$.path: why``,
    at most three, ``; ``-separated, with a count of the rest). ``show_values=False`` leaves the
    instance's values out (tool arguments in traces). ``ValueError`` for an invalid schema."""
    validator = compiled_validator(schema)
    try:
        errors = list(itertools.islice(validator.iter_errors(value), _SCANNED_ERRORS))
    except referencing.exceptions.Unresolvable as exc:
        raise ValueError(f"invalid JSON Schema: unresolvable $ref {exc.ref!r}") from None
    except RecursionError:
        return "$: nested too deeply"
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    ordered = [best, *sorted((e for e in errors if e is not best), key=lambda e: e.json_path)]
    lines: list[str] = []
    for error in ordered:
        line = f"{error.json_path}: {_clip(error.message) if show_values else _without_values(error)}"
        if line not in lines:
            lines.append(line)
    shown = "; ".join(lines[:_MAX_ERRORS])
    rest = len(lines) - _MAX_ERRORS
    return f"{shown} (and {rest} more)" if rest > 0 else shown


def _checked(schema: dict[str, Any]) -> dict[str, Any]:
    check_schema(schema)
    return schema


# A JSON Schema in config: checked when the config is read, so a bad one stops start-up.
JSONSchema = Annotated[dict[str, Any], AfterValidator(_checked)]
