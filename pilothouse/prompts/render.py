"""Rendering a prompt version into an OpenAI chat body.

Templates are compiled once per version (``compile_prompt``) and the compiled prompt is what caches
hold; rendering checks the caller's variables against the declared ones first, so a missing or an
undeclared variable is a 400 that names it rather than a half-rendered prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Template

from pilothouse.core.errors import InvalidRequest
from pilothouse.prompts.spec import PromptSpec, template_environment

# Body fields a prompt may supply besides its messages; the request's own values always win.
_OPTIONAL_FIELDS = ("tools", "response_format")
# Fields that only address the registry and must not reach a provider.
PROMPT_FIELDS = ("prompt", "variables")


def _variables_error(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_prompt_variables")


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    """One prompt version, its templates compiled and ready to render (immutable, shareable)."""

    spec: PromptSpec
    version: int
    templates: tuple[tuple[str, Template], ...]

    @property
    def name(self) -> str:
        return self.spec.name

    def bind(self, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """The template context: the caller's values over the declared defaults, checked both ways."""
        given = dict(variables or {})
        declared = self.spec.variables
        ref = f"{self.name}@{self.version}"
        extra = sorted(set(given) - set(declared))
        if extra:
            takes = ", ".join(sorted(declared)) or "none"
            raise _variables_error(
                f"Prompt '{ref}' does not declare the variable '{extra[0]}' (it takes: {takes}).",
                f"variables.{extra[0]}",
            )
        missing = [name for name, var in declared.items() if var.required and name not in given]
        if missing:
            about = declared[missing[0]].description.rstrip(". ")
            raise _variables_error(
                f"Prompt '{ref}' needs the variable '{missing[0]}'" + (f" ({about})." if about else "."),
                f"variables.{missing[0]}",
            )
        context = {name: var.default for name, var in declared.items() if not var.required}
        context.update(given)
        return context

    def render(self, variables: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        context = self.bind(variables)
        messages = []
        for i, (role, template) in enumerate(self.templates):
            try:
                content = template.render(context)
            except Exception as exc:
                # Templates were checked at push time, so what fails here is the caller's data
                # (an attribute a value lacks, a type a filter refuses): the request's fault.
                raise _variables_error(
                    f"Prompt '{self.name}@{self.version}' failed to render messages[{i}]: {exc}",
                    "variables",
                ) from None
            messages.append({"role": role, "content": content})
        return messages

    def apply(self, body: Mapping[str, Any], variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """The body to send upstream: rendered messages first, then the caller's own messages; the
        prompt's params, tools and response format where the caller set none; no registry fields."""
        out = {k: v for k, v in body.items() if k not in PROMPT_FIELDS}
        out["messages"] = [*self.render(variables), *(body.get("messages") or [])]
        spec = self.spec
        for key, value in spec.params.model_dump(exclude_none=True).items():
            if out.get(key) is None:
                out[key] = value
        for key in _OPTIONAL_FIELDS:
            value = getattr(spec, key)
            if value is not None and out.get(key) is None:
                out[key] = value
        if spec.output_schema is not None and out.get("response_format") is None:
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": _schema_name(spec.name), "schema": spec.output_schema},
            }
        return out


def _schema_name(name: str) -> str:
    # OpenAI's json_schema name allows letters, digits, _ and - (64 at most).
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64]


def compile_prompt(spec: PromptSpec, version: int) -> CompiledPrompt:
    env = template_environment()
    return CompiledPrompt(
        spec=spec,
        version=version,
        templates=tuple((m.role, env.from_string(m.content)) for m in spec.messages),
    )
