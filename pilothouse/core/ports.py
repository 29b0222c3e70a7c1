"""Ports: the protocols that let stages reach models and storage without importing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pilothouse.core.records import KeyRecord, TraceRecord
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
