"""The prompt registry: push immutable versions, move labels with promote and rollback, diff, and
read the append-only log of who changed what, when and why.

Moving ``production`` asks the release gate (``GateEvidence``) whether the version passed a gated
eval run; without that, only ``force`` with a recorded reason moves it. Rollback returns a label to
the version it held before its last promotion: a label's promotions form a stack that rollbacks
pop, so two rollbacks after three promotions land on the first version.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from pilothouse.core.errors import Conflict, InvalidRequest, NotFound
from pilothouse.core.ports import GateEvidence, PromptStore
from pilothouse.core.records import PromptEventRecord, PromptVersionRecord
from pilothouse.prompts.files import spec_to_yaml
from pilothouse.prompts.render import compile_prompt
from pilothouse.prompts.spec import LATEST, PRODUCTION, PromptSpec, is_label

Listener = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """A stored version with its spec parsed."""

    record: PromptVersionRecord
    spec: PromptSpec

    @classmethod
    def from_record(cls, record: PromptVersionRecord) -> PromptVersion:
        return cls(record, PromptSpec.model_validate(record.spec))

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def ref(self) -> str:
        return f"{self.record.name}@{self.record.version}"


@dataclass(frozen=True, slots=True)
class PushResult:
    version: PromptVersion
    created: bool  # False: the content equals the newest version, nothing was stored


@dataclass(frozen=True, slots=True)
class PromptSummary:
    name: str
    latest: PromptVersion
    labels: dict[str, int]
    updated_at: datetime


class NoGateEvidence:
    """The release gate when no evaluation harness records gate passes: no version has passed,
    so moving ``production`` needs ``force`` and a reason."""

    async def gate_passed(self, prompt: str, version: int) -> bool:
        return False


def label_holders(events: list[PromptEventRecord]) -> list[int]:
    """The label's promotion stack, oldest first, from its events: promotions push, rollbacks pop."""
    stack: list[int] = []
    for event in events:
        if event.kind == "promote":
            stack.append(event.version)
        elif event.kind == "rollback" and stack:
            stack.pop()
    return stack


def _actor(who: str, why: str) -> None:
    if not who.strip():
        raise InvalidRequest("Every change needs a 'who'.", param="who")
    if "\x00" in who or "\x00" in why:
        raise InvalidRequest("'who' and 'why' may not contain NUL characters.")


class PromptRegistry:
    def __init__(
        self, store: PromptStore, evidence: GateEvidence, *, on_change: Listener | None = None
    ) -> None:
        self._store = store
        self._evidence = evidence
        # Told after every change made through this registry: a resolver in the same process
        # refreshes at once instead of at its next poll.
        self._on_change = on_change

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change()

    # --- versions ---------------------------------------------------------------------------
    async def push(self, spec: PromptSpec, *, who: str, why: str = "") -> PushResult:
        """Store ``spec`` as the next version, unless it equals the newest (a no-op)."""
        _actor(who, why)
        compile_prompt(spec, 0)  # templates compile in the runtime's environment before they are stored
        record, created = await self._store.add_prompt_version(
            name=spec.name, spec=spec.canonical(), content_hash=spec.content_hash(), who=who, why=why
        )
        if created:
            await self._changed()
        return PushResult(PromptVersion.from_record(record), created)

    async def get(self, name: str, selector: int | str | None = None) -> PromptVersion:
        """A version by number, by label, or the newest (``None`` or ``latest``)."""
        if isinstance(selector, str) and selector != LATEST:
            holder = await self._label_holder(name, selector)
            if holder is None:
                await self._require_prompt(name)
                raise NotFound(f"Prompt '{name}' has no label '{selector}'.", code="prompt_label_not_found")
            selector = holder
        number = selector if isinstance(selector, int) else None
        record = await self._store.get_prompt_version(name, number)
        if record is None:
            await self._require_prompt(name)
            raise NotFound(f"Prompt '{name}' has no version {number}.", code="prompt_version_not_found")
        return PromptVersion.from_record(record)

    async def versions(self, name: str) -> list[PromptVersion]:
        records = await self._store.list_prompt_versions(name)
        if not records:
            await self._require_prompt(name)
        return [PromptVersion.from_record(r) for r in records]

    async def list_prompts(self) -> list[PromptSummary]:
        labels: dict[str, dict[str, int]] = {}
        updated: dict[str, datetime] = {}
        for label in await self._store.prompt_labels():
            labels.setdefault(label.name, {})[label.label] = label.version
            updated[label.name] = max(label.updated_at, updated.get(label.name, label.updated_at))
        return [
            PromptSummary(
                name=r.name,
                latest=PromptVersion.from_record(r),
                labels=labels.get(r.name, {}),
                updated_at=max(r.created_at, updated.get(r.name, r.created_at)),
            )
            for r in await self._store.latest_prompt_versions()
        ]

    async def labels(self, name: str) -> dict[str, int]:
        return {label.label: label.version for label in await self._store.prompt_labels(name)}

    async def history(self, name: str, *, label: str | None = None) -> list[PromptEventRecord]:
        events = await self._store.prompt_events(name, label=label)
        if not events:
            await self._require_prompt(name)
        return events

    async def diff(self, name: str, a: int | str | None, b: int | str | None) -> str:
        """A unified diff of two versions' files (templates, params, variables, schema, tools)."""
        old, new = await self.get(name, a), await self.get(name, b)
        return "".join(
            difflib.unified_diff(
                spec_to_yaml(old.spec).splitlines(keepends=True),
                spec_to_yaml(new.spec).splitlines(keepends=True),
                fromfile=old.ref,
                tofile=new.ref,
            )
        )

    # --- labels -----------------------------------------------------------------------------
    async def promote(
        self,
        name: str,
        selector: int | str,
        label: str,
        *,
        who: str,
        why: str = "",
        force: bool = False,
    ) -> PromptEventRecord | None:
        """Point ``label`` at a version (given by number or by another label). ``None`` when the
        label already points there. ``production`` needs a passed gate, or ``force`` and ``why``."""
        _actor(who, why)
        if not is_label(label) or label == LATEST:
            raise InvalidRequest(
                f"'{label}' cannot be a label: labels start with a letter, and 'latest' is reserved.",
                param="label",
            )
        if force and not why.strip():
            raise InvalidRequest("A forced promotion needs a reason (why).", param="why")
        target = await self.get(name, selector)
        current = await self._label_holder(name, label)
        if current == target.version:
            return None
        forced = False
        if label == PRODUCTION and not await self._evidence.gate_passed(name, target.version):
            if not force:
                raise Conflict(
                    f"Version {target.version} of '{name}' has no passing gated eval run, so it cannot"
                    " become production. Run its eval suite with --gate, or force the promotion with a"
                    " reason.",
                    code="gate_not_passed",
                )
            forced = True
        event = await self._store.move_prompt_label(
            name=name,
            label=label,
            version=target.version,
            expected=current,
            kind="promote",
            who=who,
            why=why,
            forced=forced,
        )
        return await self._moved(event, name, label)

    async def rollback(self, name: str, label: str, *, who: str, why: str = "") -> PromptEventRecord:
        """Return ``label`` to the version it held before its last promotion."""
        _actor(who, why)
        stack = label_holders(await self._store.prompt_events(name, label=label))
        if len(stack) < 2:
            await self._require_prompt(name)
            raise Conflict(
                f"Label '{label}' of '{name}' has no earlier version to roll back to.",
                code="nothing_to_roll_back",
            )
        event = await self._store.move_prompt_label(
            name=name, label=label, version=stack[-2], expected=stack[-1], kind="rollback", who=who, why=why
        )
        return await self._moved(event, name, label)

    async def _moved(self, event: PromptEventRecord | None, name: str, label: str) -> PromptEventRecord:
        if event is None:
            raise Conflict(
                f"Label '{label}' of '{name}' changed while this change was made; look again and retry.",
                code="label_moved",
            )
        await self._changed()
        return event

    async def _label_holder(self, name: str, label: str) -> int | None:
        found = [r.version for r in await self._store.prompt_labels(name) if r.label == label]
        return found[0] if found else None

    async def _require_prompt(self, name: str) -> None:
        if await self._store.get_prompt_version(name) is None:
            raise NotFound(f"Prompt '{name}' does not exist.", code="prompt_not_found")
