"""Ports: the protocols that let stages reach models and storage without importing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pilothouse.core.eval_records import (
    EvalResultRecord,
    EvalRunRecord,
    ReviewItemRecord,
    ReviewLabel,
    RunStatus,
)
from pilothouse.core.records import (
    KeyRecord,
    PromptEventRecord,
    PromptLabelRecord,
    PromptVersionRecord,
    TraceRecord,
)
from pilothouse.core.types import ChatCall, ChatResult, ChunkStream, EmbedCall, EmbedResult


@runtime_checkable
class Provider(Protocol):
    """A model adapter. It translates and maps its own errors into ``core.errors``; retries, timeouts
    across attempts, fallbacks and caching belong to routing and the gateway."""

    name: str

    async def chat(self, call: ChatCall) -> ChatResult: ...

    def stream(self, call: ChatCall) -> ChunkStream: ...

    async def embed(self, call: EmbedCall) -> EmbedResult: ...

    async def list_models(self) -> list[str]: ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...


class TraceSink(Protocol):
    """Takes finished traces off the request path (must never block or raise)."""

    def submit(self, record: TraceRecord) -> None: ...


class TraceStore(Protocol):
    async def write_traces(self, records: Sequence[TraceRecord]) -> None: ...

    async def get_trace(self, trace_id: str) -> TraceRecord | None: ...

    async def list_traces(
        self, *, limit: int = 50, before: str | None = None, filters: dict[str, Any] | None = None
    ) -> list[TraceRecord]: ...


class KeyStore(Protocol):
    async def find_by_hash(self, key_hash: str) -> KeyRecord | None: ...

    async def create_key(
        self,
        *,
        name: str,
        key_hash: str,
        prefix: str,
        team: str | None,
        scopes: Sequence[str],
        models: Sequence[str] | None,
        expires_at: datetime | None,
        tools: Sequence[str] | None = None,
    ) -> KeyRecord: ...

    async def list_keys(self, *, include_revoked: bool = False) -> list[KeyRecord]: ...

    async def revoke_key(self, key_id_or_prefix: str) -> KeyRecord | None: ...


@dataclass(frozen=True, slots=True)
class SpendRow:
    """One group of ``pilothouse spend``: money as an exact integer of nano-USD."""

    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_nanousd: int


SpendScope = Literal["key", "team", "route"]
SpendGrouping = Literal["team", "key", "route", "model"]


class SpendStore(Protocol):
    """Spend summed from stored traces: budgets seed their counters from it at start-up (so a restart
    does not reset them) and ``pilothouse spend`` reports it. Keys and teams are matched by name."""

    async def spend_since(self, scope: SpendScope, name: str, since: datetime) -> int:
        """Nano-USD spent by one key, team or route since ``since`` (UTC)."""
        ...

    async def spend_report(
        self, *, by: SpendGrouping, since: datetime | None = None, until: datetime | None = None
    ) -> list[SpendRow]:
        """Requests, tokens and nano-USD per group in ``[since, until)``, largest spend first."""
        ...


class TraceRecorder(Protocol):
    """What stages use to add timed spans and fields to the current trace (implemented in ``traces``).

    ``fields`` takes ``TraceRecord`` field names (``provider``, ``served_model``, ``attempts``...);
    ``flags`` takes short markers such as ``escalated`` or ``budget_soft_limit``.
    """

    fields: dict[str, Any]
    flags: list[str]
    attributes: dict[str, Any]

    def add_span(
        self,
        name: str,
        start: float,
        end: float,
        *,
        status: str = "ok",
        attributes: dict[str, Any] | None = None,
    ) -> None: ...


class SettingsStore(Protocol):
    """Small operator settings that must outlive a process and reach every replica (the guard
    kill switch), as text under a key."""

    async def get_setting(self, key: str) -> str | None: ...

    async def put_setting(self, key: str, value: str) -> None: ...


class TextEmbedder(Protocol):
    """Embeddings for stages that need them (semantic cache, RAG), without importing providers."""

    async def embed_texts(self, texts: list[str]) -> list[list[float]]: ...


class Lease(Protocol):
    """An admitted request's hold on a limit; released with the actual token count once known."""

    async def release(self, actual_tokens: int | None = None) -> None: ...


class DeploymentGate(Protocol):
    """Routing asks before each attempt whether a deployment has room under its own limits."""

    async def try_acquire(self, deployment: str, tokens: int) -> Lease | None:
        """A lease, or None when the deployment is at its RPM, TPM or concurrency limit."""
        ...


class GateEvidence(Protocol):
    """Whether a prompt version has passed a gated evaluation run (the release gate).

    Written by the eval harness when ``pilothouse eval run --gate`` passes; read by the prompt
    registry before it moves the ``production`` label.
    """

    async def gate_passed(self, prompt: str, version: int) -> bool: ...


class EvalStore(GateEvidence, Protocol):
    """Eval runs, their per-case results and scores, the review queue, and the gate evidence.

    Results are saved one case at a time as they finish, which is what makes a run resumable;
    ``cached_eval_results`` finds earlier outputs by content hash, which is what makes a re-run free.
    """

    async def save_eval_run(self, run: EvalRunRecord) -> None:
        """Insert or replace the run record (status, summary and gate outcome change as it goes)."""
        ...

    async def get_eval_run(self, run_id: str) -> EvalRunRecord | None: ...

    async def list_eval_runs(
        self, *, suite: str | None = None, statuses: Sequence[RunStatus] | None = None, limit: int = 50
    ) -> list[EvalRunRecord]:
        """Newest first."""
        ...

    async def save_eval_result(self, result: EvalResultRecord) -> None:
        """Insert or replace one case x target x repeat with its scores, in one transaction."""
        ...

    async def eval_results(self, run_id: str) -> list[EvalResultRecord]: ...

    async def cached_eval_results(self, cache_keys: Sequence[str]) -> dict[str, EvalResultRecord]:
        """The newest successful result (with scores) for each cache key that has one, from any run."""
        ...

    async def record_gate_pass(self, prompt: str, version: int, run_id: str) -> None: ...

    async def add_review_items(self, items: Sequence[ReviewItemRecord]) -> int:
        """Queue items, skipping any already queued (same run case or trace); returns how many were added."""
        ...

    async def get_review_item(self, item_id: str) -> ReviewItemRecord | None: ...

    async def next_review_item(self) -> ReviewItemRecord | None:
        """The oldest unlabelled item."""
        ...

    async def label_review_item(
        self, item_id: str, *, label: ReviewLabel, comment: str | None, reviewer: str | None
    ) -> ReviewItemRecord | None: ...

    async def list_review_items(
        self, *, run_id: str | None = None, labelled: bool | None = None
    ) -> list[ReviewItemRecord]:
        """Oldest first."""
        ...


LabelMove = Literal["promote", "rollback"]


class PromptStore(Protocol):
    """The prompt registry's persistence: immutable versions, labels, and the append-only change log.

    Every change appends one event in the same transaction, so ``prompt_change_count`` is a cheap
    stamp that gateways poll to learn that their cached resolutions are stale.
    """

    async def add_prompt_version(
        self, *, name: str, spec: dict[str, Any], content_hash: str, who: str, why: str
    ) -> tuple[PromptVersionRecord, bool]:
        """Store the next version of ``name`` (1 for a new prompt) with a ``push`` event, atomically.

        When the newest version already has ``content_hash`` nothing is stored: that version comes
        back with ``False`` (a no-op push)."""
        ...

    async def get_prompt_version(self, name: str, version: int | None = None) -> PromptVersionRecord | None:
        """One version; ``None`` asks for the newest."""
        ...

    async def list_prompt_versions(self, name: str) -> list[PromptVersionRecord]:
        """Every version of one prompt, oldest first."""
        ...

    async def latest_prompt_versions(self) -> list[PromptVersionRecord]:
        """The newest version of every prompt, by name."""
        ...

    async def prompt_labels(self, name: str | None = None) -> list[PromptLabelRecord]:
        """Labels of one prompt, or of all prompts; by name, then label."""
        ...

    async def move_prompt_label(
        self,
        *,
        name: str,
        label: str,
        version: int,
        expected: int | None,
        kind: LabelMove,
        who: str,
        why: str,
        forced: bool = False,
    ) -> PromptEventRecord | None:
        """Point ``label`` at ``version`` if it still points at ``expected`` (``None``: the label does
        not exist yet) and append the event, atomically; ``None`` when the label moved meanwhile."""
        ...

    async def prompt_events(
        self, name: str | None = None, *, label: str | None = None
    ) -> list[PromptEventRecord]:
        """The change log, oldest first, for one prompt (and one of its labels) or for all."""
        ...

    async def prompt_change_count(self) -> int:
        """How many changes the registry has recorded: grows with every push, promote and rollback."""
        ...
