"""Prompt files: ``prompts/<name>.yaml`` in a project, the source of truth when a team keeps prompts
in git (the format is documented in ``pilothouse.prompts.spec``).

``push_dir`` validates every file before it registers any, so one bad file pushes nothing; errors
name the file and, where the YAML says, the line. ``pull_dir`` writes registry versions back as
files that push again as no-ops (the content hash ignores comments and key order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from pilothouse.core.errors import ConfigError, NotFound
from pilothouse.prompts.spec import PromptSpec

if TYPE_CHECKING:
    from pilothouse.prompts.registry import PromptRegistry, PromptVersion, PushResult

SUFFIXES = (".yaml", ".yml")


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (templates) as literal blocks, so files and diffs read like the prompt."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def spec_to_yaml(spec: PromptSpec) -> str:
    """The file form of a spec: fields in their documented order, defaults left out."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The line of the deepest YAML node along ``loc`` (pydantic's error location), 1-based."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break  # a union member's name or a missing key: the parent is as close as it gets
        node, line = child, child.start_mark.line + 1
    return line


def load_prompt_file(path: Path) -> PromptSpec:
    """Parse and validate one prompt file; ``ConfigError`` names the file, line and key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the prompt file: {exc}", source=str(path)) from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ConfigError(f"invalid YAML: {exc.problem}", source=where) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("a prompt file must be a YAML mapping", source=str(path))
    name = data.setdefault("name", path.stem)
    if name != path.stem:
        raise ConfigError(f"the name {name!r} differs from the file name {path.name!r}", source=str(path))
    try:
        return PromptSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        line = _line_of(text, first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            message, path=_dotted(first["loc"]), source=f"{path}:{line}" if line else str(path)
        ) from None


def load_dir(directory: Path) -> list[tuple[Path, PromptSpec]]:
    if not directory.is_dir():
        raise ConfigError("no such prompts directory", source=str(directory))
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    loaded = [(path, load_prompt_file(path)) for path in files]
    seen: dict[str, Path] = {}
    for path, spec in loaded:
        if spec.name in seen:
            raise ConfigError(f"prompt {spec.name!r} is also defined in {seen[spec.name]}", source=str(path))
        seen[spec.name] = path
    return loaded


async def push_dir(
    registry: PromptRegistry,
    directory: Path,
    *,
    who: str,
    why: str = "",
    names: Sequence[str] = (),
) -> list[tuple[Path, PushResult]]:
    """Register every (or every named) prompt file whose content changed as a new version."""
    loaded = load_dir(directory)
    if names:
        found = {spec.name for _, spec in loaded}
        missing = [n for n in names if n not in found]
        if missing:
            raise NotFound(f"no prompt file for {missing[0]!r} in {directory}", code="prompt_not_found")
        loaded = [(path, spec) for path, spec in loaded if spec.name in names]
    return [(path, await registry.push(spec, who=who, why=why)) for path, spec in loaded]


def _file_text(version: PromptVersion) -> str:
    header = (
        f"# {version.name} version {version.version} ({version.record.content_hash[:19]}…),"
        " pulled from the Pilothouse registry.\n"
        "# Edit, then `pilothouse prompts push` registers a new version.\n"
    )
    return header + spec_to_yaml(version.spec)


async def pull_dir(
    registry: PromptRegistry,
    directory: Path,
    *,
    selector: int | str | None = None,
    names: Sequence[str] = (),
) -> list[tuple[Path, PromptVersion]]:
    """Write each (or each named) prompt's version (newest, or the one a label holds) to
    ``directory/<name>.yaml``. Without names, prompts that lack the label are skipped."""
    targets = list(names) or [s.name for s in await registry.list_prompts()]
    versions = []
    for name in targets:
        try:
            versions.append(await registry.get(name, selector))
        except NotFound:
            if names:
                raise
    return await asyncio.to_thread(write_files, directory, versions)


def write_files(directory: Path, versions: Sequence[PromptVersion]) -> list[tuple[Path, PromptVersion]]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for version in versions:
        path = directory / f"{version.name}.yaml"
        for other in SUFFIXES[1:]:  # a pulled file replaces a .yml twin, which would duplicate it
            path.with_suffix(other).unlink(missing_ok=True)
        path.write_text(_file_text(version), encoding="utf-8")
        written.append((path, version))
    return written
