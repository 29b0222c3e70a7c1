"""Output guards: the answer's JSON schema (with one repair retry), tool-call governance, the
policy's text guards over the answer, and agent-session accounting.

Sits inside the cache and outside accounting: a cached answer has already been judged, and each
upstream call (a repair retry too) is priced by accounting before this stage sees it.

Streams: redacting and flagging guards work on the flowing text (``guard_streams``); tool calls
are held until their choice finishes, then governed and sent whole. A guard that may *block* the
answer, or a schema to validate, needs the whole answer before the client sees any of it: such
streams are answered first, then replayed as SSE (time to first token is then the whole answer's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from pilothouse.core.completions import CompletionBuilder, chunks_of, replay
from pilothouse.core.errors import InvalidRequest
from pilothouse.core.types import JSON, ChatResult, ChunkStream, Usage
from pilothouse.gateway.guard_streams import redactor_chain, rewritten_stream
from pilothouse.gateway.pipeline import ChatContext, ChatOutcome, Handler, StreamOutcome
from pilothouse.gateway.stages_guard import (
    SENSITIVE_KINDS,
    GuardState,
    guard_state,
    protect_storage,
    redact_into,
)
from pilothouse.guard.errors import OutputValidationFailed
from pilothouse.guard.events import GuardEvents
from pilothouse.guard.messages import answer_text, map_texts
from pilothouse.guard.output import (
    check_schema,
    clean_json_answer,
    detect_refusal,
    missing_citations,
    repair_messages,
    schema_of,
    validate_json_answer,
)
from pilothouse.guard.pii import PIIScanner
from pilothouse.guard.policy import GuardBook, GuardPolicy
from pilothouse.guard.redact import Redactor
from pilothouse.guard.tools import ToolGovernor, finish_reason_after
from pilothouse.guard.types import Finding

GUARD_HEADER = b"x-pilothouse-guard"
audit = logging.getLogger("pilothouse.audit")


class OutputGuards:
    name = "guard.output"

    def __init__(self, book: GuardBook) -> None:
        self._book = book

    async def __call__(self, ctx: ChatContext, call_next: Handler) -> ChatOutcome:
        state = guard_state(ctx)
        policy = state.policy if state is not None else None
        governor = self._governor(ctx, policy)
        prompt_schema = _prompt_schema(ctx)
        if (
            governor is None
            and prompt_schema is None
            and (policy is None or not (policy.checks_answers or policy.agent))
        ):
            return await call_next(ctx)
        assert state is not None or policy is None
        events = state.events if state is not None else GuardEvents(ctx.trace, "output")
        if governor is not None:
            declared = governor.allowed_declarations()
            if declared is not None:
                ctx.body = _offered(ctx.body, declared)
        schema = _schema(ctx, policy) if prompt_schema is None else prompt_schema
        judge = Judge(ctx, policy, governor, events, state)
        if not ctx.request.stream or schema is not None or (policy is not None and _blocks(policy)):
            result = await collect(await call_next(ctx))
            if schema is not None:
                result = await self._validated(ctx, call_next, result, schema, policy, events)
            result = await judge.answer(result)
            if ctx.request.stream:
                return StreamOutcome(replay(chunks_of(result.body, usage=result.usage)))
            return result
        outcome = await call_next(ctx)
        if isinstance(outcome, ChatResult):  # a cascade route answers streams whole
            return await judge.answer(outcome)
        return StreamOutcome(judge.stream(outcome.chunks))

    def _governor(self, ctx: ChatContext, policy: GuardPolicy | None) -> ToolGovernor | None:
        killed = self._book.kill.tools
        key_tools = ctx.principal.tools
        tools_policy = policy.tools if policy is not None else None
        if not (killed or key_tools is not None or tools_policy is not None):
            return None
        declared = ctx.body.get("tools")
        return ToolGovernor(
            tools_policy,
            killed=frozenset(killed),
            key_allowlist=key_tools,
            declared=declared if isinstance(declared, list) else [],
        )

    async def _validated(
        self,
        ctx: ChatContext,
        call_next: Handler,
        result: ChatResult,
        schema: dict[str, Any],
        policy: GuardPolicy | None,
        events: GuardEvents,
    ) -> ChatResult:
        start = time.perf_counter()
        text = answer_text(_message(result))
        error = validate_json_answer(text, schema)
        if error is None:
            events.add("json_schema", "pass", [], direction="output")
            return _with_content(result, clean_json_answer(text))
        events.add("json_schema", "repair", [], direction="output", detail={"error": error[:500]})
        # A prompt's own output schema always gets its repair turn; a policy's guard says.
        repair = _prompt_schema(ctx) is not None or (
            policy is not None and policy.json_schema is not None and policy.json_schema.repair
        )
        if not repair:
            ctx.trace.add_span("guard.repair", start, time.perf_counter(), status="error")
            raise OutputValidationFailed(error, attempts=1)
        first_usage, first_cost = ctx.trace.usage, ctx.trace.cost_usd
        configured = policy.json_schema.json_schema if policy and policy.json_schema else None
        messages = repair_messages(ctx.body["messages"], text, error, schema=configured)
        ctx.body = {**ctx.body, "messages": messages}
        second = await collect(await call_next(ctx))
        usage = _plus(first_usage, ctx.trace.usage)  # accounting priced the retry on its own
        ctx.trace.usage = usage
        ctx.trace.cost_usd = first_cost + ctx.trace.cost_usd
        text = answer_text(_message(second))
        error = validate_json_answer(text, schema)
        ctx.trace.attributes["pilothouse.guard.repaired"] = error is None
        ctx.trace.add_span(
            "guard.repair", start, time.perf_counter(), status="ok" if error is None else "error"
        )
        if error is not None:
            events.add("json_schema", "block", [], direction="output", detail={"error": error[:500]})
            raise OutputValidationFailed(error, attempts=2)
        return _with_content(ChatResult(second.body, usage), clean_json_answer(text))


class Judge:
    """Applies tool governance, text guards and agent accounting to one answer."""

    def __init__(
        self,
        ctx: ChatContext,
        policy: GuardPolicy | None,
        governor: ToolGovernor | None,
        events: GuardEvents,
        state: GuardState | None,
    ) -> None:
        self._ctx = ctx
        self._policy = policy
        self._governor = governor
        self._events = events
        self._state = state
        self._redactors: list[Redactor] = []

    async def answer(self, result: ChatResult) -> ChatResult:
        start = time.perf_counter()
        body = dict(result.body)
        choices: list[Any] = []
        tool_calls: list[JSON] = []
        for choice in body.get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                choice = self._judge_choice(choice)
                tool_calls += choice["message"].get("tool_calls") or []
            choices.append(choice)
        body["choices"] = choices
        await self._account(result.usage, tool_calls)
        self._events.span(start)
        return ChatResult(body, result.usage)

    def _judge_choice(self, choice: JSON) -> JSON:
        message: JSON = choice["message"]
        finish = choice.get("finish_reason")
        if self._governor is not None and (message.get("tool_calls") or message.get("function_call")):
            message, decisions = self._governor.govern_message(message)
            self._record_tools(decisions)
            finish = finish_reason_after(message, finish)
        policy = self._policy
        if policy is not None:
            message, blocked = self._text_guards(message)
            if blocked:
                message = {"role": "assistant", "content": ""}
                finish = "content_filter"
                self._ctx.response_headers.append((GUARD_HEADER, b"blocked"))
        return {**choice, "message": message, "finish_reason": finish}

    def _text_guards(self, message: JSON) -> tuple[JSON, bool]:
        policy = self._policy
        assert policy is not None
        events = self._events
        text = answer_text(message)
        for guard in policy.output:
            if guard.action == "redact" and guard.scanner is not None:
                found: list[Finding] = []
                message = map_texts(message, partial(redact_into, self._redactor(guard.scanner), found))
                if found:
                    events.record(guard, found, direction="output")
                    events.flag("pii_redacted")
                    protect_storage(self._ctx.trace)
                continue
            findings = guard.check(text)
            if findings:
                events.record(guard, findings, direction="output")
                if any(f.kind in SENSITIVE_KINDS for f in findings):
                    protect_storage(self._ctx.trace)
                if guard.action == "block":
                    return message, True
        for cfg, finding in (
            (policy.refusal, detect_refusal(text) if policy.refusal else None),
            (
                policy.citations,
                missing_citations(text, policy.citations.pattern) if policy.citations else None,
            ),
        ):
            if cfg is not None and finding is not None:
                events.add(cfg.guard, cfg.action, [finding], direction="output")
                if cfg.action == "block":
                    return message, True
        return message, False

    def _redactor(self, scanner: PIIScanner) -> Redactor:
        # New placeholders continue the input's numbering, so they never collide with (and are
        # never "restored" to) the input's values.
        redactor = Redactor(scanner, after=self._state.redactors if self._state else ())
        self._redactors.append(redactor)
        return redactor

    def _record_tools(self, decisions: Sequence[Any]) -> None:
        if not decisions:
            return
        trace = self._ctx.trace
        recorded: list[JSON] = trace.attributes.setdefault("pilothouse.tool.decisions", [])
        recorded += [d.describe() for d in decisions]
        for decision in decisions:
            # One structured line per decision (names and reasons, never arguments) for log
            # pipelines and audit; the hash-chained audit store will take these events too.
            audit.info(
                "tool call %s",
                decision.decision,
                extra={
                    "pilothouse": {
                        "event": "tool_decision",
                        "trace_id": trace.trace_id,
                        "key_id": self._ctx.principal.key_id,
                        "session": self._state.session if self._state else None,
                        **decision.describe(),
                    }
                },
            )
        for decision in decisions:
            if decision.decision in ("blocked", "held"):
                self._events.add(
                    "tools",
                    "block" if decision.decision == "blocked" else "hold",
                    [],
                    direction="output",
                    detail={"tool": decision.tool, "reason": decision.reason},
                )
                self._events.flag(f"tool_{decision.decision}")
                self._ctx.response_headers.append((GUARD_HEADER, f"tool_{decision.decision}".encode()))

    async def _account(self, usage: Usage, tool_calls: list[JSON]) -> None:
        state, policy = self._state, self._policy
        if state is None or policy is None or policy.agent is None or state.session is None:
            return
        trace = self._ctx.trace
        cost: Decimal = trace.cost_usd
        violations = await policy.agent.record(
            state.session_key, tokens=usage.total_tokens, cost_usd=cost, tool_calls=tool_calls
        )
        if violations:
            trace.attributes["pilothouse.agent.violations"] = violations
            self._events.add("agent", "flag", [], direction="output", detail={"violations": violations})

    async def stream(self, chunks: ChunkStream) -> ChunkStream:
        """Streams through redaction; holds tool calls to govern them whole; flags at the end."""
        start = time.perf_counter()
        policy = self._policy
        redacting = (
            [g.scanner for g in policy.output if g.action == "redact" and g.scanner is not None]
            if policy is not None
            else []
        )
        if redacting:
            make = redactor_chain([self._redactor(s) for s in redacting], restore=False)
            chunks = rewritten_stream(chunks, make)
        builder = CompletionBuilder()
        held: dict[int, list[JSON]] = {}
        try:
            async for chunk in chunks:
                builder.add(chunk)
                if self._governor is not None:
                    chunk = _hold_tool_calls(chunk, held)
                    for choice in chunk.get("choices") or ():
                        if choice.get("finish_reason") is not None and held.get(choice.get("index", 0)):
                            for extra in self._release(chunk, choice, builder, held):
                                yield extra
                yield chunk
            completion = builder.completion()
            message = _message(ChatResult(completion, Usage()))
            if policy is not None and message is not None:
                self._flag_only(answer_text(message))
            self._record_redactions()
            usage = self._ctx.trace.usage
            await self._account(usage, (message or {}).get("tool_calls") or [])
            self._events.span(start)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    def _release(
        self, chunk: JSON, choice: JSON, builder: CompletionBuilder, held: dict[int, list[JSON]]
    ) -> list[JSON]:
        """The governed tool calls of a finished choice, as one chunk to send before its end."""
        assert self._governor is not None
        index = int(choice.get("index") or 0)
        held.pop(index, None)
        whole = builder.message()
        message, decisions = self._governor.govern_message({"role": "assistant", **whole})
        self._record_tools(decisions)
        calls = message.get("tool_calls") or []
        choice["finish_reason"] = finish_reason_after(message, choice.get("finish_reason"))
        out: list[JSON] = []
        delta: JSON = {}
        if calls:
            delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(calls)]
        elif not whole.get("content") and message.get("content"):
            delta["content"] = message["content"]  # the explanation of what was blocked
        if delta:
            template = {k: v for k, v in chunk.items() if k not in ("choices", "usage")}
            out.append({**template, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        return out

    def _flag_only(self, text: str) -> None:
        policy = self._policy
        assert policy is not None
        for guard in policy.output:
            if guard.action != "redact":
                findings = guard.check(text)
                if findings:
                    self._events.record(guard, findings, direction="output")
                    if any(f.kind in SENSITIVE_KINDS for f in findings):
                        protect_storage(self._ctx.trace)
        if policy.refusal is not None:
            finding = detect_refusal(text)
            if finding is not None:
                self._events.add("refusal", policy.refusal.action, [finding], direction="output")
        if policy.citations is not None:
            finding = missing_citations(text, policy.citations.pattern)
            if finding is not None:
                self._events.add("citations", policy.citations.action, [finding], direction="output")

    def _record_redactions(self) -> None:
        """What the stream's redactors replaced, as one event (spans refer to no single text)."""
        entities = [p[1:].rsplit("_", 1)[0] for r in self._redactors for p in r.mapping]
        if entities:
            findings = [Finding("pii", entity, 0, 0, 1.0, "stream") for entity in entities]
            self._events.add("pii", "redact", findings, direction="output")
            self._events.flag("pii_redacted")
            protect_storage(self._ctx.trace)


def _hold_tool_calls(chunk: JSON, held: dict[int, list[JSON]]) -> JSON:
    """The chunk without tool-call deltas (kept in ``held`` by choice index)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return chunk
    out = []
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and delta.get("tool_calls"):
            held.setdefault(int(choice.get("index") or 0), []).extend(delta["tool_calls"])
            choice = {**choice, "delta": {k: v for k, v in delta.items() if k != "tool_calls"}}
        out.append(choice)
    return {**chunk, "choices": out}


async def collect(outcome: ChatOutcome) -> ChatResult:
    """A whole answer from either shape (streams are read to the end)."""
    if isinstance(outcome, ChatResult):
        return outcome
    builder = CompletionBuilder()
    usage = Usage()
    try:
        async for chunk in outcome.chunks:
            builder.add(chunk)
            if chunk.get("usage"):
                usage = Usage.from_openai(chunk["usage"])
    finally:
        await outcome.chunks.aclose()  # type: ignore[attr-defined]
    return ChatResult(builder.completion(), usage)


def _prompt_schema(ctx: ChatContext) -> dict[str, Any] | None:
    """The output schema a registry prompt declares: its answers are validated with or without a
    policy (the prompt's author asked for that shape), unless the request replaced the format."""
    spec = ctx.prompt.spec if ctx.prompt is not None else None
    if spec is None or spec.output_schema is None:
        return None
    response_format = ctx.body.get("response_format")
    sent = response_format.get("json_schema") if isinstance(response_format, dict) else None
    if not isinstance(sent, dict) or sent.get("schema") != spec.output_schema:
        return None  # the client asked for another format: not the prompt's to enforce
    return dict(spec.output_schema)


def _schema(ctx: ChatContext, policy: GuardPolicy | None) -> dict[str, Any] | None:
    """The schema answers must meet; a request whose ``response_format`` schema is itself invalid
    gets a 400 before anything is sent."""
    if policy is None or policy.json_schema is None:
        return None
    try:
        schema = schema_of(ctx.body.get("response_format"), policy.json_schema.json_schema)
        if schema is not None:
            check_schema(schema)
    except ValueError as exc:
        raise InvalidRequest(f"response_format: {exc}", param="response_format") from None
    return schema


def _blocks(policy: GuardPolicy) -> bool:
    """Whether an output guard may withhold the answer (then streams are judged whole first)."""
    checks: list[str] = [g.action for g in policy.output if g.action != "redact"]
    checks += [c.action for c in (policy.refusal, policy.citations) if c is not None]
    return "block" in checks


def _message(result: ChatResult) -> JSON | None:
    choices = result.body.get("choices") or [{}]
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    return message if isinstance(message, dict) else None


def _with_content(result: ChatResult, content: str) -> ChatResult:
    body = dict(result.body)
    choices = list(body.get("choices") or [])
    if choices and isinstance(choices[0], dict):
        message = dict(choices[0].get("message") or {})
        message["content"] = content
        choices[0] = {**choices[0], "message": message}
    body["choices"] = choices
    return ChatResult(body, result.usage)


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        cached_tokens=a.cached_tokens + b.cached_tokens,
    )


def _offered(body: JSON, declared: list[JSON]) -> JSON:
    """The body offering only the tools governance lets through (a ``tool_choice`` naming a
    withdrawn tool goes too: the upstream would reject it)."""
    if not declared:
        return {k: v for k, v in body.items() if k not in ("tools", "tool_choice", "parallel_tool_calls")}
    out = {**body, "tools": declared}
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        named = (
            (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else None
        )
        offered = {(t.get("function") or {}).get("name") for t in declared if isinstance(t, dict)}
        if named is not None and named not in offered:
            out.pop("tool_choice", None)
    return out
