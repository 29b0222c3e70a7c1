"""What the gateway needs from the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilothouse.core.ports import TraceSink
from pilothouse.keys import KeyAuthenticator
from pilothouse.prompts import PromptResolver
from pilothouse.routing import Router
from pilothouse.traces.builder import PayloadPolicy
from pilothouse.traces.metrics import Metrics


@dataclass(slots=True)
class GatewayDeps:
    authenticator: KeyAuthenticator
    router: Router
    traces: TraceSink
    store_payloads: PayloadPolicy = "full"
    config_hash: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    drain_seconds: float = 30.0
    metrics: Metrics | None = None
    prompts: PromptResolver | None = None  # resolves prompt references from memory
    # The ``redacted`` storage rule: (messages, output) -> what a trace keeps of them.
    redact_payloads: Callable[[Any, Any], tuple[Any, Any]] | None = None
