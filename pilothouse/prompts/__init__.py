"""The prompt registry: prompts as versioned assets with labels, releases gated by evals, files in
git as the source of truth, and resolution of ``name@label`` references for the gateway."""

from pilothouse.prompts.files import load_dir, load_prompt_file, pull_dir, push_dir, spec_to_yaml
from pilothouse.prompts.registry import (
    NoGateEvidence,
    PromptRegistry,
    PromptSummary,
    PromptVersion,
    PushResult,
)
from pilothouse.prompts.render import PROMPT_FIELDS, CompiledPrompt, compile_prompt
from pilothouse.prompts.resolver import PromptResolver, ResolvedPrompt
from pilothouse.prompts.spec import LATEST, PRODUCTION, PromptSpec, parse_ref

__all__ = [
    "LATEST",
    "PRODUCTION",
    "PROMPT_FIELDS",
    "CompiledPrompt",
    "NoGateEvidence",
    "PromptRegistry",
    "PromptResolver",
    "PromptSpec",
    "PromptSummary",
    "PromptVersion",
    "PushResult",
    "ResolvedPrompt",
    "compile_prompt",
    "load_dir",
    "load_prompt_file",
    "parse_ref",
    "pull_dir",
    "push_dir",
    "spec_to_yaml",
]
