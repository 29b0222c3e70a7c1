"""A prompt as a versioned asset: its file format, validation, content hash and references.

A prompt lives in ``prompts/<name>.yaml`` (the source of truth when a team keeps prompts in git)
and in the registry as immutable numbered versions. The file format::

    name: support-reply            # optional in a file (defaults to the file name); letters, digits, . _ -
    description: Answer a support ticket politely and concisely.
    tags: [support, customer-facing]
    model: smollm2                 # a model or route of pilothouse.yaml; optional: callers may name one
    params:                        # applied where the request does not set them itself
      temperature: 0.2             # also top_p, max_tokens, max_completion_tokens, stop, seed,
      max_tokens: 200              # presence_penalty, frequency_penalty, tool_choice
    variables:                     # every variable a template uses must be declared here
      customer: {description: "The customer's first name"}           # required unless...
      tone: {description: Voice of the reply, required: false, default: friendly}
    messages:                      # Jinja2 templates, rendered in a sandbox; an undefined name is an error
      - role: system               # system | developer | user | assistant
        content: |
          You are a support agent. Answer in a {{ tone }} tone.
      - role: user
        content: "{{ customer }} asks: {{ question }}"
    response_format: {type: json_object}   # optional, OpenAI's shape, sent as is
    output_schema: {type: object}          # optional JSON Schema of the reply; sent as a json_schema
                                           # response_format when response_format is not set
    tools: []                              # optional, OpenAI's tool definitions

Templates render with ``trim_blocks`` and ``lstrip_blocks`` (a ``{% if %}`` line leaves no blank line)
and without autoescaping. A variable with ``required: false`` and no ``default`` renders as none.

The content hash covers the whole validated spec with defaults filled in, so a file that spells a
default out and one that omits it hash the same, and pushing an unchanged prompt is a no-op.

References (``"prompt": ...`` in a request, CLI arguments): ``NAME`` means ``NAME@production``;
``NAME@LABEL`` follows a label (``latest`` is always the newest version); ``NAME@3`` pins a version.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

import orjson
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from pilothouse.core.errors import InvalidRequest

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# Labels start with a letter, so ``name@3`` is always a version and ``name@staging`` a label.
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]{0,63}$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
PRODUCTION = "production"
LATEST = "latest"  # not stored: always the newest version

_LABEL_RE = re.compile(LABEL_PATTERN)
_NAME_RE = re.compile(NAME_PATTERN)


def template_environment() -> ImmutableSandboxedEnvironment:
    """The one template dialect: sandboxed (templates cannot reach Python internals or mutate the
    caller's data) and strict (a name that is not defined fails instead of rendering empty)."""
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Variable(_Strict):
    description: str = ""
    required: bool = True
    default: JsonValue = None

    @model_validator(mode="before")
    @classmethod
    def _default_makes_optional(cls, data: Any) -> Any:
        # ``{default: x}`` alone means optional; normalised here so the hash does not depend on it.
        if isinstance(data, dict) and "required" not in data:
            return {**data, "required": "default" not in data}
        return data

    @model_validator(mode="after")
    def _required_has_no_default(self) -> Variable:
        if self.required and self.default is not None:
            raise ValueError("a required variable takes no default (set required: false)")
        return self


class Params(_Strict):
    """Sampling parameters the prompt was written for; the request's own values win."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    tool_choice: str | dict[str, JsonValue] | None = None


class PromptMessage(_Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str = Field(description="a Jinja2 template")

    @field_validator("content")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            template_environment().parse(value)
        except TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error on line {exc.lineno}: {exc.message}") from None
        return value


class PromptSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    model: str | None = Field(None, min_length=1, description="model or route; the request may override")
    params: Params = Params()
    variables: dict[str, Variable] = Field(default_factory=dict)
    messages: list[PromptMessage] = Field(min_length=1)
    response_format: dict[str, JsonValue] | None = None
    output_schema: dict[str, JsonValue] | None = None
    tools: list[dict[str, JsonValue]] | None = None

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, Variable]) -> dict[str, Variable]:
        reserved = set(template_environment().globals)
        for name in value:
            if not re.fullmatch(VARIABLE_PATTERN, name):
                raise ValueError(f"variable name {name!r} is not an identifier")
            if name in reserved:
                raise ValueError(f"variable name {name!r} is a template built-in")
        return value

    @field_validator("output_schema")
    @classmethod
    def _is_a_schema(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if value is not None:
            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value

    @model_validator(mode="after")
    def _templates_use_declared_variables(self) -> PromptSpec:
        env = template_environment()
        known = set(self.variables) | set(env.globals)
        for i, message in enumerate(self.messages):
            used = meta.find_undeclared_variables(env.parse(message.content))
            unknown = sorted(used - known)
            if unknown:
                raise ValueError(
                    f"messages[{i}].content uses the undeclared variable {unknown[0]!r}"
                    " (declare it under variables)"
                )
        if _has_nul(self.canonical()):
            # PostgreSQL cannot store U+0000; refusing it everywhere keeps both stores alike.
            raise ValueError("a prompt may not contain NUL characters")
        return self

    def canonical(self) -> dict[str, Any]:
        """The spec as plain JSON with every default filled in: what is stored and hashed."""
        return self.model_dump(mode="json")

    def content_hash(self) -> str:
        canonical = orjson.dumps(self.canonical(), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def is_label(value: str) -> bool:
    return _LABEL_RE.fullmatch(value) is not None


def parse_ref(ref: str) -> tuple[str, int | str]:
    """``NAME`` -> (NAME, "production"); ``NAME@LABEL`` -> (NAME, LABEL); ``NAME@3`` -> (NAME, 3)."""
    name, sep, selector = ref.strip().partition("@")
    if _NAME_RE.fullmatch(name) is not None:
        if not sep:
            return name, PRODUCTION
        if selector.isdigit() and int(selector) >= 1:
            return name, int(selector)
        if is_label(selector):
            return name, selector
    raise InvalidRequest(
        f"Invalid prompt reference {ref!r}: expected NAME, NAME@LABEL or NAME@VERSION.",
        param="prompt",
        code="invalid_prompt_reference",
    )
