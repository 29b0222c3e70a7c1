"""Input guards: the kill switch, agent-session steps, and the policy's guards over the request.

Runs after prompt rendering and before admission, so a blocked request costs nothing and is not
counted against limits, and a redacted one is what the cache keys on and the provider sees. It
wraps everything after it: placeholders the policy lets it restore are put back into the answer
on the way out (``OutputGuards``, inside the cache, redacts what the model itself produced).

Which guards judge which messages: ``input`` guards judge user messages, ``context`` guards
judge tool results (indirect injection); redacting guards of either rewrite every message,
system prompts included, because everything sent upstream leaves our network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from pilothouse.core.types import ChatResult
from pilothouse.gateway.asgi import header
from pilothouse.gateway.guard_streams import restored_stream
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome
from pilothouse.guard.errors import GuardBlocked, RouteDisabled
from pilothouse.guard.events import GuardEvents
from pilothouse.guard.messages import CONTEXT_ROLES, USER_ROLES, map_texts, texts_of
from pilothouse.guard.policy import GuardBook, GuardPolicy, TextGuard
from pilothouse.guard.redact import Redactor
from pilothouse.guard.types import Finding
from pilothouse.routing import Router
from pilothouse.traces import TraceBuilder

SESSION_HEADER = b"x-pilothouse-session"
SENSITIVE_KINDS = frozenset({"pii", "secret"})
MAX_SESSION_ID = 200


@dataclass(slots=True)
class GuardState:
    """What the input side leaves for the output side of one request (``ctx.state["guard"]``)."""

    policy: GuardPolicy
    events: GuardEvents
    session: str | None = None  # the client's session id (x-pilothouse-session)
    session_key: str = ""  # the session's id in the limits store: the key's own namespace
    redactors: list[Redactor] = field(default_factory=list)  # input redaction, in application order
    restorers: list[Redactor] = field(default_factory=list)  # the ones whose values come back


def guard_state(ctx: ChatContext) -> GuardState | None:
    state = ctx.state.get("guard")
    return state if isinstance(state, GuardState) else None


class InputGuards:
    name = "guard.input"

    def __init__(self, book: GuardBook, router: Router) -> None:
        self._book = book
        self._router = router

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        if ctx.route.name in self._book.kill.routes:
            raise RouteDisabled(ctx.route.name)
        policy = self._book.policy_for(ctx.route.name, ctx.principal.team_name)
        if policy is None:
            return await call_next(ctx)
        start = time.perf_counter()
        events = GuardEvents(ctx.trace, "input")
        session = _session_id(ctx)
        # Sessions are per key: another key naming the same session id must not spend its steps.
        state = GuardState(policy, events, session, session_key=f"{ctx.principal.key_id}/{session}")
        ctx.state["guard"] = state
        ctx.trace.attributes["pilothouse.guard.policy"] = policy.name
        if policy.storage is not None:
            ctx.trace.store_payloads = policy.storage
        try:
            if policy.agent is not None and state.session is not None:
                ctx.trace.attributes["pilothouse.agent.session"] = state.session
                steps = await policy.agent.begin_step(state.session_key)
                ctx.trace.attributes["pilothouse.agent.step"] = steps.steps
                if steps.violations:
                    ctx.trace.attributes["pilothouse.agent.violations"] = list(steps.violations)
            if policy.checks_requests:
                self._inspect(ctx, state)
        except Exception as exc:
            events.span(start, error=exc)
            raise
        events.span(start)
        outcome = await call_next(ctx)
        if not state.restorers:
            return outcome
        if isinstance(outcome, ChatResult):
            return _restored(outcome, state.restorers)
        return StreamOutcome(restored_stream(outcome.chunks, state.restorers))

    def _inspect(self, ctx: ChatContext, state: GuardState) -> None:
        policy, events = state.policy, state.events
        messages: list[dict[str, Any]] = ctx.body["messages"]
        escalate = False
        for index, message in enumerate(messages):
            role = message.get("role")
            judges = policy.input if role in USER_ROLES else policy.context if role in CONTEXT_ROLES else ()
            direction: Literal["input", "context"] = "input" if role in USER_ROLES else "context"
            for guard in judges:
                if guard.action == "redact":
                    continue
                findings = [f for text in texts_of(message) for f in guard.check(text)]
                if not findings:
                    continue
                if any(f.kind in SENSITIVE_KINDS for f in findings):
                    protect_storage(ctx.trace)
                events.record(guard, findings, direction=direction, message=index)
                if guard.action == "block":
                    raise GuardBlocked(guard.name, findings, direction=direction)
                escalate = escalate or guard.action == "escalate"
        redacting = [g for g in (*policy.input, *policy.context) if g.action == "redact" and g.scanner]
        if redacting:
            messages = self._redact(messages, redacting, state)
            if messages is not ctx.body["messages"]:
                ctx.body = {**ctx.body, "messages": messages}
                ctx.trace.messages = messages
                # The answer may carry restored values: the trace keeps a redacted copy only.
                protect_storage(ctx.trace)
        if escalate and policy.safe_route is not None and policy.safe_route != ctx.route.name:
            events.escalated(ctx.route.name, policy.safe_route)
            ctx.route = self._router.route(policy.safe_route)
            ctx.body = {**ctx.body, "model": ctx.route.name}
            ctx.trace.fields["route"] = ctx.route.name

    @staticmethod
    def _redact(
        messages: list[dict[str, Any]], guards: list[TextGuard], state: GuardState
    ) -> list[dict[str, Any]]:
        for guard in guards:
            assert guard.scanner is not None
            redactor = Redactor(guard.scanner, after=state.redactors)
            rewritten: list[dict[str, Any]] = []
            for index, message in enumerate(messages):
                found: list[Finding] = []
                rewritten.append(map_texts(message, partial(redact_into, redactor, found)))
                if found:
                    state.events.record(guard, found, direction="input", message=index)
            if not redactor.mapping:
                continue
            messages = rewritten
            state.redactors.append(redactor)
            if guard.restore:
                state.restorers.append(redactor)
        if state.redactors:
            state.events.flag("pii_redacted")
        return messages


def redact_into(redactor: Redactor, found: list[Finding], text: str) -> str:
    """``text`` redacted; its findings added to ``found``."""
    redacted, findings = redactor.redact(text)
    found.extend(findings)
    return redacted


def protect_storage(trace: TraceBuilder) -> None:
    """A request where PII or secrets were found keeps at most a redacted copy of its payloads,
    whatever the global storage rule says; only the policy's own ``storage`` rule overrides that."""
    if trace.store_payloads is None:
        trace.store_payloads = "redacted"


def _session_id(ctx: ChatContext) -> str | None:
    raw = header(ctx.scope, SESSION_HEADER)
    if not raw:
        return None
    return raw.decode("latin-1").strip()[:MAX_SESSION_ID] or None


def _restored(result: ChatResult, restorers: list[Redactor]) -> ChatResult:
    body = dict(result.body)
    choices = []
    for choice in body.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            for redactor in reversed(restorers):
                message = map_texts(message, redactor.restore)
            choice = {**choice, "message": message}
        choices.append(choice)
    body["choices"] = choices
    return ChatResult(body, result.usage)
