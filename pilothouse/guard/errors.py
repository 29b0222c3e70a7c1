"""Guardrail errors, in the project's one tree (:mod:`pilothouse.core.errors`)::

    PilothouseError
    ├── InvalidRequest
    │   └── AgentLimitExceeded       400 agent_step_limit / agent_token_limit / agent_cost_limit /
    │                                    agent_loop_detected
    ├── GuardBlocked                 400 guard_<name> (guard_pii, guard_injection, guard_content...)
    ├── OutputValidationFailed       502 output_validation_failed
    └── ServiceUnavailable
        └── RouteDisabled            503 route_disabled (the kill switch)

Messages name guards, entity types, limits and counts, never a detected value.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

from pilothouse.core.errors import InvalidRequest, PilothouseError, ServiceUnavailable
from pilothouse.guard.types import Finding

AgentLimit = Literal["agent_step_limit", "agent_token_limit", "agent_cost_limit", "agent_loop_detected"]


class AgentLimitExceeded(InvalidRequest):
    """The agent session has used up a limit. A 400, not a 429: waiting does not help, since the
    session's totals never go down; the client must start a new session (a new session id)."""

    code = "agent_step_limit"

    def __init__(self, session_id: str, *, code: AgentLimit, limit: str, used: str) -> None:
        what = {
            "agent_step_limit": "its step limit",
            "agent_token_limit": "its token limit",
            "agent_cost_limit": "its cost limit",
            "agent_loop_detected": "its limit on identical tool calls",
        }[code]
        super().__init__(
            f"agent session {session_id!r} reached {what}: {used} of {limit}. "
            "Requests with a new session id start a fresh session.",
            code=code,
        )
        self.session_id = session_id
        self.limit = limit
        self.used = used

    @classmethod
    def steps(cls, session_id: str, *, limit: int, used: int) -> AgentLimitExceeded:
        return cls(session_id, code="agent_step_limit", limit=f"{limit} requests", used=str(used))

    @classmethod
    def tokens(cls, session_id: str, *, limit: int, used: int) -> AgentLimitExceeded:
        return cls(session_id, code="agent_token_limit", limit=f"{limit} tokens", used=str(used))

    @classmethod
    def cost(cls, session_id: str, *, limit: Decimal, used: Decimal) -> AgentLimitExceeded:
        return cls(session_id, code="agent_cost_limit", limit=f"${limit} USD", used=f"${used:.6f}")

    @classmethod
    def loop(cls, session_id: str, *, limit: int, tool: str) -> AgentLimitExceeded:
        return cls(
            session_id, code="agent_loop_detected", limit=f"{limit} identical calls", used=f"tool {tool!r}"
        )


class GuardBlocked(PilothouseError):
    """A guard with ``action: block`` fired. 400 ``invalid_request_error`` like OpenAI's own
    content-policy rejections, with ``code`` ``guard_<name>`` so clients can tell guards apart."""

    status = 400
    type = "invalid_request_error"
    code = "guard_blocked"

    def __init__(
        self,
        guard: str,
        entities: Iterable[str | Finding],
        *,
        direction: Literal["input", "context", "output"] = "input",
        policy: str | None = None,
    ) -> None:
        # Entity names only (a Finding gives its entity), distinct, in order of first appearance.
        found = list(dict.fromkeys(e.entity if isinstance(e, Finding) else e for e in entities))
        where = {"input": "the request", "context": "tool or retrieved content", "output": "the answer"}[
            direction
        ]
        text = f"blocked by the {guard} guard"
        if policy:
            text += f" of policy {policy!r}"
        text += f": found {', '.join(found)} in {where}" if found else f" in {where}"
        super().__init__(
            text + ".", param="messages" if direction != "output" else None, code=f"guard_{guard}"
        )
        self.guard = guard
        self.entities = found
        self.direction = direction


class OutputValidationFailed(PilothouseError):
    """The model's answer failed the required JSON Schema, after the repair retry.

    502 ``api_error`` (the project's type for upstream failures): the client's request was valid
    and the schema was accepted; what failed is the upstream answer, as with a malformed provider
    response. A 422 would tell the client to fix a request that is not wrong; a 500 would point at
    Pilothouse. A retry may well succeed (sampling differs), and OpenAI SDKs retry 5xx on their own.
    The message carries the validation error, which may quote the answer the client would have got.
    """

    status = 502
    type = "api_error"
    code = "output_validation_failed"

    def __init__(self, error: str, *, attempts: int | None = None) -> None:
        after = ""
        if attempts is not None:
            after = f" after {attempts} attempt{'' if attempts == 1 else 's'}"
        super().__init__(f"the model's answer is not valid against the required JSON Schema{after}: {error}")
        self.error = error
        self.attempts = attempts


class RouteDisabled(ServiceUnavailable):
    """The route is switched off by the operator's kill switch; 503 without Retry-After."""

    code = "route_disabled"

    def __init__(self, route: str) -> None:
        super().__init__(f"route {route!r} is disabled by the operator (kill switch)")
        self.route = route
