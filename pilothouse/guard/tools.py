"""Tool governance: which tools a model is offered and which of its tool calls reach the client.

Checks on a call, in order (the first that fails decides, except as noted):

1. the operator's kill switch (``killed``): blocked, reason ``killed``;
2. the key's allow-list: blocked, ``not_in_key_allowlist``;
3. with a policy only: its allow-list (``not_in_policy_allowlist``), the request's declared tools
   (``unknown_tool``), and with ``validate_arguments`` the arguments: a JSON object valid against the
   policy's schema for the tool, else the declared ``parameters`` (``bad_arguments``). With policy
   ``action: flag`` these three make the call ``flagged`` (still returned) instead of blocked;
4. the policy's ``require_approval``: held (never returned as a call; an approval hook may act).

Without a policy only 1 and 2 apply, so configuring a key allow-list or the kill switch changes
nothing else about tool calls. Decisions never carry argument values, only the failing path and
rule (``$.amount: expected type "number"``).

Declared tools the model may not call anyway (killed, outside the key's or a blocking policy's
allow-list) are best removed from the request before the provider call, so the model is never
offered them and no step is wasted: :meth:`ToolGovernor.allowed_declarations`. Tools that need
approval stay offered: the model proposes, a human decides.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from pilothouse.core.guarding import ToolPolicyConfig
from pilothouse.guard.output import check_schema, parse_json, schema_errors

_JSON = dict[str, Any]
Decision = Literal["allowed", "blocked", "held", "flagged"]


@dataclass(frozen=True, slots=True)
class ToolDecision:
    """What happened to one declared tool or one tool call (``call_id`` None for declarations)."""

    tool: str
    call_id: str | None
    decision: Decision
    reason: str = ""  # killed, not_in_key_allowlist, not_in_policy_allowlist, unknown_tool, ...
    detail: str = ""  # the failing rule, never an argument value

    @property
    def passes(self) -> bool:
        """Returned to the client (allowed or flagged)."""
        return self.decision in ("allowed", "flagged")

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for traces."""
        return {
            "tool": self.tool,
            "call_id": self.call_id,
            "decision": self.decision,
            "reason": self.reason,
            "detail": self.detail,
        }

    def explain(self) -> str:
        """One plain sentence for the client when the call was taken out of the answer."""
        if self.decision == "held":
            return f"[pilothouse] tool call {self.tool!r} is held for approval."
        return f"[pilothouse] tool call {self.tool!r} was blocked by policy ({self.reason})."


def _tool_name(entry: _JSON) -> str | None:
    """The name in a declared tool or a tool call: ``{"type": "function", "function": {"name"}}``
    (or another type with its own object, such as ``custom``)."""
    kind = entry.get("type") or "function"
    body = entry.get(kind) if isinstance(kind, str) else None
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


class ToolGovernor:
    """One request's tool governance.

    ``policy``: the route's tool policy (None: only the kill switch and key allow-list apply);
    ``killed``: tool names switched off by the operator; ``key_allowlist``: the key's allow-list (None:
    any tool); ``declared``: the request's ``tools``. ``ValueError`` when a policy schema is invalid.
    """

    def __init__(
        self,
        policy: ToolPolicyConfig | None,
        *,
        killed: Collection[str] = frozenset(),
        key_allowlist: frozenset[str] | None = None,
        declared: list[_JSON] | None = None,
    ) -> None:
        self._policy = policy
        self._killed = frozenset(killed)
        self._key_allow = key_allowlist
        self._declared = declared
        self._parameters: dict[str, Any] = {}  # declared name -> its parameters schema (or None)
        for tool in declared or ():
            name = _tool_name(tool) if isinstance(tool, dict) else None
            if name is not None:
                body = tool.get(tool.get("type") or "function")
                self._parameters[name] = body.get("parameters") if isinstance(body, dict) else None
        self._policy_allow = frozenset(policy.allow) if policy and policy.allow is not None else None
        self._approval = frozenset(policy.require_approval) if policy else frozenset()
        for name, schema in policy.schemas.items() if policy else ():
            try:
                check_schema(schema)
            except ValueError as exc:
                raise ValueError(f"tools.schemas.{name}: {exc}") from None

    # --- what the model is offered

    def _hard_block(self, name: str) -> str | None:
        if name in self._killed:
            return "killed"
        if self._key_allow is not None and name not in self._key_allow:
            return "not_in_key_allowlist"
        return None

    def check_declarations(self) -> list[ToolDecision]:
        """A decision per declared tool: ``blocked`` for those :meth:`allowed_declarations` drops."""
        out: list[ToolDecision] = []
        for tool in self._declared or ():
            name = _tool_name(tool) if isinstance(tool, dict) else None
            if name is None:
                out.append(ToolDecision("", None, "blocked", "bad_declaration", "the tool has no name"))
                continue
            reason = self._hard_block(name)
            if (
                reason is None
                and self._policy is not None
                and self._policy.action == "block"
                and self._policy_allow is not None
                and name not in self._policy_allow
            ):
                reason = "not_in_policy_allowlist"
            out.append(ToolDecision(name, None, "blocked" if reason else "allowed", reason or ""))
        return out

    def allowed_declarations(self) -> list[_JSON] | None:
        """The request's ``tools`` without those the model may not call: killed, outside the key's
        allow-list, or outside a blocking policy's allow-list (a flagging policy keeps them).

        ``None`` when the request declared none. An empty list means every tool was removed: send
        the request without ``tools`` and ``tool_choice`` then (OpenAI rejects an empty list), and
        if ``tool_choice`` named a removed tool, drop it too (the upstream would reject the call).
        """
        if self._declared is None:
            return None
        decisions = self.check_declarations()
        return [tool for tool, d in zip(self._declared, decisions, strict=True) if d.decision == "allowed"]

    # --- what the model called

    def check_call(self, call: _JSON) -> ToolDecision:
        """The decision for one OpenAI tool call (see the module docstring for the order)."""
        name = _tool_name(call)
        call_id = call.get("id") if isinstance(call.get("id"), str) else None
        if name is None:
            return ToolDecision("", call_id, "blocked", "bad_call", "the call names no tool")
        hard = self._hard_block(name)
        if hard is not None:
            return ToolDecision(name, call_id, "blocked", hard)
        policy = self._policy
        if policy is None:
            return ToolDecision(name, call_id, "allowed")
        reason, detail = "", ""
        if self._policy_allow is not None and name not in self._policy_allow:
            reason = "not_in_policy_allowlist"
        elif name not in self._parameters:
            reason = "unknown_tool"
        elif policy.validate_arguments:
            problem, detail = self._argument_problem(name, call)
            reason = "bad_arguments" if problem else ""
        if reason and policy.action == "block":
            return ToolDecision(name, call_id, "blocked", reason, detail)
        if name in self._approval:
            return ToolDecision(
                name, call_id, "held", "requires_approval", f"also {reason}" if reason else ""
            )
        if reason:
            return ToolDecision(name, call_id, "flagged", reason, detail)
        return ToolDecision(name, call_id, "allowed", "", detail)

    def _argument_problem(self, name: str, call: _JSON) -> tuple[bool, str]:
        """``(True, why)`` when the arguments are bad; ``(False, note)`` otherwise."""
        assert self._policy is not None
        kind = call.get("type") or "function"
        if kind != "function":
            return False, ""  # custom tools take free text: nothing to validate
        body = call.get("function")
        raw = body.get("arguments") if isinstance(body, dict) else None
        if isinstance(raw, dict):
            value: Any = raw  # already decoded by a provider adapter
        elif isinstance(raw, str):
            if not raw.strip():
                value = {}  # some models send "" for a tool without parameters
            else:
                value, error = parse_json(raw)
                if error is not None:
                    return True, "arguments are " + error
        else:
            return True, "arguments are missing"
        if not isinstance(value, dict):
            return True, "arguments must be a JSON object"
        schema = self._policy.schemas.get(name)
        from_policy = schema is not None
        if schema is None:
            schema = self._parameters.get(name)
        if not isinstance(schema, dict):
            return False, ""
        try:
            error = schema_errors(value, schema, show_values=False)
        except ValueError:
            if from_policy:
                raise  # checked at construction: only a $ref that cannot resolve gets here
            # The client's own schema is broken; blocking every call to the tool would punish the
            # client for it, so pass the call and say so in the trace.
            return False, "declared parameters schema is invalid: arguments not validated"
        return (True, error) if error is not None else (False, "")

    def govern_message(self, message: _JSON) -> tuple[_JSON, list[ToolDecision]]:
        """A copy of an assistant message keeping only the calls that pass (allowed, flagged), and
        the decision for every call. With no call left, ``tool_calls`` is removed and an empty
        content becomes a plain explanation. The caller then sets ``finish_reason``: see
        :func:`finish_reason_after`. Legacy ``function_call`` is governed the same way."""
        calls = message.get("tool_calls")
        legacy = message.get("function_call")
        if not calls and not isinstance(legacy, dict):
            return message, []
        out = dict(message)
        decisions: list[ToolDecision] = []
        if isinstance(calls, list) and calls:
            kept = []
            for call in calls:
                decision = self.check_call(call if isinstance(call, dict) else {})
                decisions.append(decision)
                if decision.passes:
                    kept.append(call)
            if kept:
                out["tool_calls"] = kept
            else:
                del out["tool_calls"]
        if isinstance(legacy, dict):
            decision = self.check_call({"type": "function", "function": legacy})
            decisions.append(decision)
            if not decision.passes:
                del out["function_call"]
        if (
            not out.get("tool_calls")
            and "function_call" not in out
            and not (out.get("content") or "").strip()
        ):
            out["content"] = " ".join(d.explain() for d in decisions if not d.passes)
        return out, decisions


def finish_reason_after(message: _JSON, original: str | None) -> str | None:
    """The ``finish_reason`` for a governed message: unchanged while a call remains; ``stop`` when
    the model stopped for tool calls and all of them were taken out (the client must not wait for
    calls that are not there)."""
    if message.get("tool_calls") or message.get("function_call"):
        return original
    return "stop" if original in ("tool_calls", "function_call") else original
