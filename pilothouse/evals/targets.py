"""The suite's matrix as pinned targets, and the request each case sends to each target.

Prompt references are resolved to versions once, when a run starts (``name@production`` becomes
``name@3``), through the ``PromptStore`` port: a label that moves mid-run cannot mix two versions
into one target, a resumed run keeps the versions it started with, and the cache key names an
immutable version. A gated run also pins each prompt's baseline (the version holding
``gate.baseline``, ``production`` by default) and adds it to the matrix, so the comparison is paired
on the same cases in the same run (usually from cache: the baseline ran when it was released).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilothouse.core.errors import ConfigError
from pilothouse.core.eval_records import EvalTarget
from pilothouse.core.ports import PromptStore
from pilothouse.core.records import PromptVersionRecord
from pilothouse.evals.dataset import Case
from pilothouse.evals.suite import Suite

LATEST = "latest"  # the prompt registry's name for the newest version


@dataclass
class Matrix:
    targets: list[EvalTarget]
    baselines: dict[str, int] = field(default_factory=dict)  # prompt -> baseline version
    notes: list[str] = field(default_factory=list)  # e.g. a prompt with no production version yet


def target_id(model: str, prompt: str | None = None, version: int | None = None) -> str:
    return model if prompt is None else f"{prompt}@{version}|{model}"


async def _version(prompts: PromptStore, name: str, ref: str) -> PromptVersionRecord | None:
    if ref.isdigit():
        return await prompts.get_prompt_version(name, int(ref))
    if ref == LATEST:
        return await prompts.get_prompt_version(name, None)
    label = next((lbl for lbl in await prompts.prompt_labels(name) if lbl.label == ref), None)
    return await prompts.get_prompt_version(name, label.version) if label is not None else None


def _models_for(suite: Suite, record: PromptVersionRecord, where: str) -> list[str]:
    if suite.config.models:
        return list(suite.config.models)
    model = record.spec.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(
            f"prompt {record.name}@{record.version} names no model, and the suite lists no models",
            path=where,
            source=str(suite.path),
        )
    return [model]


async def pin_targets(suite: Suite, prompts: PromptStore | None, *, gate: bool) -> Matrix:
    if not suite.config.prompts:
        return Matrix([EvalTarget(target_id=target_id(m), model=m) for m in suite.config.models])
    if prompts is None:
        raise ConfigError(
            "the suite names prompts, and no prompt registry is available", source=str(suite.path)
        )
    matrix = Matrix([])
    seen: set[str] = set()

    def add(target: EvalTarget) -> None:
        if target.target_id not in seen:
            seen.add(target.target_id)
            matrix.targets.append(target)

    for i, (name, ref) in enumerate(suite.prompt_refs()):
        record = await _version(prompts, name, ref)
        if record is None:
            raise ConfigError(
                f"no prompt version {name}@{ref} in the registry",
                path=f"prompts[{i}]",
                source=str(suite.path),
            )
        for model in _models_for(suite, record, f"prompts[{i}]"):
            add(
                EvalTarget(
                    target_id=target_id(model, name, record.version),
                    model=model,
                    prompt=name,
                    ref=ref,
                    version=record.version,
                    content_hash=record.content_hash,
                )
            )
    baseline_label = suite.config.gate.baseline
    if gate and baseline_label:
        for name in dict.fromkeys(n for n, _ in suite.prompt_refs()):
            record = await _version(prompts, name, baseline_label)
            if record is None:
                matrix.notes.append(f"{name} has no {baseline_label} version yet: thresholds only")
                continue
            matrix.baselines[name] = record.version
            for model in _models_for(suite, record, "gate.baseline"):
                add(
                    EvalTarget(
                        target_id=target_id(model, name, record.version),
                        model=model,
                        prompt=name,
                        ref=baseline_label,
                        version=record.version,
                        content_hash=record.content_hash,
                        role="baseline",
                    )
                )
    return matrix


def request_body(case: Case, target: EvalTarget, params: dict[str, Any]) -> dict[str, Any]:
    """The chat request for one case and target (the gateway renders prompt references)."""
    body: dict[str, Any] = {"model": target.model, **params}
    if target.prompt is not None:
        body["prompt"] = f"{target.prompt}@{target.version}"
        body["variables"] = dict(case.variables or {})
        if case.messages:
            body["messages"] = case.messages  # a conversation the prompt's messages lead into
    else:
        body["messages"] = case.messages
    return body
