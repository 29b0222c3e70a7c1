"""Eval suites in YAML, parsed strictly; every error names the file and the key path (dataset errors
name the dataset file and line).

    name: support-reply                    # default: the file name without .yaml
    dataset: cases.jsonl                   # JSONL or CSV, relative to this file
    prompts: [support-reply@production, support-reply@3]   # name@label or name@version
    models: [fast, smart]                  # models or routes; a target is one prompt x model
    params: {temperature: 0, max_tokens: 200}              # added to every request
    repeat: 1                              # samples per case and target (sampling noise)
    concurrency: 4
    scorers:
      - scorer: contains                   # built-in, plugin name or module:function
        name: mentions-refund              # default: the scorer
        threshold: 0.9                     # the mean score per target must reach this
        options: {values: [refund]}
    gate:
      tolerance: 0.02                      # a drop smaller than this is not a regression
      baseline: production                 # label whose version each prompt is compared against

Without ``prompts`` each case's own ``messages`` go to each model as they are.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pilothouse.core.config import read_yaml
from pilothouse.core.errors import ConfigError
from pilothouse.evals.dataset import Case, load_dataset
from pilothouse.evals.scorers import ScorerDef, resolve_scorer

PROMPT_REF = re.compile(r"^(?P<name>[A-Za-z0-9][\w.\-/]*)@(?P<ref>[\w.\-]+)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScorerConfig(Strict):
    scorer: str = Field(min_length=1)
    name: str = Field("", description="the scorer's column in results; default: scorer")
    threshold: float | None = Field(None, ge=0, le=1, description="minimum mean score per target")
    tolerance: float | None = Field(None, ge=0, le=1, description="overrides gate.tolerance")
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_name(self) -> ScorerConfig:
        if not self.name:
            object.__setattr__(self, "name", self.scorer)
        return self


class GateConfig(Strict):
    tolerance: float = Field(0.0, ge=0, le=1, description="drop (in score units) that is not a regression")
    baseline: str | None = Field("production", description="label of the baseline version; null: none")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    correction: Literal["holm", "bh"] = "holm"
    slices: list[str] | None = Field(None, description="metadata keys tested per slice (default: all)")


class SuiteConfig(Strict):
    name: str | None = None
    description: str = ""
    dataset: str
    prompts: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    repeat: int = Field(1, ge=1, le=100)
    concurrency: int = Field(4, ge=1, le=256)
    timeout: float = Field(120.0, gt=0, description="seconds per request")
    scorers: list[ScorerConfig] = Field(min_length=1)
    gate: GateConfig = GateConfig()

    @field_validator("prompts")
    @classmethod
    def _prompt_refs(cls, refs: list[str]) -> list[str]:
        for i, ref in enumerate(refs):
            if not PROMPT_REF.match(ref):
                raise ValueError(f"[{i}]: {ref!r} is not name@label or name@version")
        return refs

    @field_validator("params")
    @classmethod
    def _not_the_matrix(cls, params: dict[str, Any]) -> dict[str, Any]:
        clash = sorted({"model", "messages", "prompt", "variables", "stream"} & set(params))
        if clash:
            raise ValueError(f"{', '.join(clash)} cannot be params (the suite's matrix and cases set them)")
        return params

    @model_validator(mode="after")
    def _check(self) -> SuiteConfig:
        if not self.models and not self.prompts:
            raise ValueError("models: a suite needs at least one model (or prompts that name theirs)")
        names = [s.name for s in self.scorers]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValueError(f"scorers[{i}].name: duplicate scorer name {name!r}")
        return self


class Suite:
    """A parsed suite with its cases loaded and its scorers resolved and their options validated."""

    def __init__(
        self,
        config: SuiteConfig,
        *,
        path: Path,
        cases: list[Case],
        dataset_hash: str,
        scorers: dict[str, tuple[ScorerDef, Any]],
    ) -> None:
        self.config = config
        self.path = path
        self.cases = cases
        self.scorers = scorers  # name -> (definition, validated options)
        self.name = config.name or path.stem
        document = {"suite": config.model_dump(mode="json"), "dataset": dataset_hash}
        self.hash = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def scorer_config(self, name: str) -> ScorerConfig:
        return next(s for s in self.config.scorers if s.name == name)

    def prompt_refs(self) -> list[tuple[str, str]]:
        """(name, label or version) of each prompt, in suite order."""
        out = []
        for ref in self.config.prompts:
            match = PROMPT_REF.match(ref)
            assert match is not None  # validated on load
            out.append((match["name"], match["ref"]))
        return out


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_error(exc: ValidationError, source: str, prefix: str = "") -> ConfigError:
    first = exc.errors()[0]
    path = prefix + _loc(tuple(first["loc"]))
    msg = first["msg"].removeprefix("Value error, ")
    if msg.startswith("[") and "]: " in msg:  # list checks name the index
        index, msg = msg.split(": ", 1)
        path += index
    elif ": " in msg and not first["loc"]:  # cross-field checks name their own path
        path, msg = msg.split(": ", 1)
    more = f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else ""
    return ConfigError(msg + more, path=path.strip("."), source=source)


def _resolve_scorers(config: SuiteConfig, path: Path) -> dict[str, tuple[ScorerDef, Any]]:
    resolved: dict[str, tuple[ScorerDef, Any]] = {}
    for i, spec in enumerate(config.scorers):
        try:
            definition = resolve_scorer(spec.scorer)
        except ValueError as exc:
            raise ConfigError(str(exc), path=f"scorers[{i}].scorer", source=str(path)) from None
        options: Any = dict(spec.options)
        if definition.options is not None:
            try:
                options = definition.options.model_validate(options, context={"base_dir": str(path.parent)})
            except ValidationError as exc:
                raise _validation_error(exc, str(path), prefix=f"scorers[{i}].options.") from None
        resolved[spec.name] = (definition, options)
    return resolved


def parse_suite(data: Any, *, path: Path) -> Suite:
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping", source=str(path))
    try:
        config = SuiteConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, str(path)) from None
    scorers = _resolve_scorers(config, path)
    cases, dataset_hash = load_dataset(path.parent / config.dataset, need_messages=not config.prompts)
    return Suite(config, path=path, cases=cases, dataset_hash=dataset_hash, scorers=scorers)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file and its dataset; any problem raises ConfigError naming where."""
    path = Path(path)
    return parse_suite(read_yaml(path), path=path)
