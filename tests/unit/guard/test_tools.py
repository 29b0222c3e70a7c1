"""Tool governance: kill switch, key and policy allow-lists, unknown tools, argument schemas,
approval holds, flag mode, declarations offered to the model, and governed assistant messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pilothouse.core.guarding import ToolPolicyConfig
from pilothouse.guard.tools import ToolDecision, ToolGovernor, finish_reason_after

pytestmark = pytest.mark.unit


def tool(name: str, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name, "description": f"the {name} tool"}
    if parameters is not None:
        function["parameters"] = parameters
    return {"type": "function", "function": function}


DECLARED = [
    tool(
        "search",
        {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
            "required": ["query"],
        },
    ),
    tool("refund", {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}),
    tool("delete_account", {"type": "object", "properties": {}}),
    tool("ping"),
]


def call(name: str, arguments: Any = "{}", call_id: str = "call_1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def governor(policy: ToolPolicyConfig | None = None, **kwargs: Any) -> ToolGovernor:
    kwargs.setdefault("declared", DECLARED)
    return ToolGovernor(policy, **kwargs)


def decide(gov: ToolGovernor, *args: Any) -> tuple[str, str]:
    d = gov.check_call(call(*args))
    return d.decision, d.reason


# --- single calls ---------------------------------------------------------------------------------


def test_without_a_policy_only_kill_switch_and_key_apply() -> None:
    gov = governor(None, killed={"delete_account"}, key_allowlist=frozenset({"search", "delete_account"}))
    assert decide(gov, "search", {"query": "x"}) == ("allowed", "")
    assert decide(gov, "search", "not json") == ("allowed", "")  # no policy: arguments not checked
    assert decide(gov, "nonexistent") == ("blocked", "not_in_key_allowlist")
    assert decide(gov, "delete_account") == ("blocked", "killed")
    assert decide(governor(None), "anything") == ("allowed", "")


def test_policy_checks_in_order() -> None:
    gov = governor(
        ToolPolicyConfig(allow=["search", "refund", "hallucinated"], require_approval=["refund"]),
        killed={"search"},
        key_allowlist=frozenset({"search", "refund", "hallucinated", "ping"}),
    )
    assert decide(gov, "search", {"query": "x"}) == ("blocked", "killed")
    assert decide(gov, "ping") == ("blocked", "not_in_policy_allowlist")
    assert decide(gov, "hallucinated") == ("blocked", "unknown_tool")
    assert decide(gov, "refund", {"amount": "lots"}) == ("blocked", "bad_arguments")
    assert decide(gov, "refund", {"amount": 12.5}) == ("held", "requires_approval")


@pytest.mark.parametrize(
    ("arguments", "detail"),
    [
        ('{"query": "x", "limit": 0}', "$.limit: fails 'minimum': 1"),
        ('{"limit": 2}', "$: 'query' is a required property"),
        ('{"query": 42}', '$.query: expected type "string"'),
        ('{"query": "x",', "arguments are not valid JSON: Expecting property name enclosed in double quotes"),
        ("[1, 2]", "arguments must be a JSON object"),
    ],
)
def test_bad_arguments(arguments: str, detail: str) -> None:
    d = governor(ToolPolicyConfig()).check_call(call("search", arguments))
    assert (d.decision, d.reason) == ("blocked", "bad_arguments")
    assert d.detail.startswith(detail)


def test_details_never_carry_argument_values() -> None:
    d = governor(ToolPolicyConfig()).check_call(
        call("refund", {"amount": "4111 1111 1111 1111", "card": "x"})
    )
    assert d.decision == "blocked" and "4111" not in d.detail and "4111" not in json.dumps(d.describe())


def test_arguments_edge_cases() -> None:
    gov = governor(ToolPolicyConfig())
    assert decide(gov, "delete_account", "") == ("allowed", "")  # "" means no arguments
    assert decide(gov, "ping", '{"anything": [1, 2]}') == ("allowed", "")  # no declared schema
    assert decide(gov, "search", '{"query": "x", "extra": true}') == ("allowed", "")
    missing = gov.check_call({"id": "c", "type": "function", "function": {"name": "search"}})
    assert (missing.decision, missing.detail) == ("blocked", "arguments are missing")
    decoded = gov.check_call({"id": "c", "type": "function", "function": {"name": "search", "arguments": {}}})
    assert decoded.reason == "bad_arguments"  # an adapter's decoded dict is validated too
    nameless = gov.check_call({"id": "c", "type": "function", "function": {}})
    assert (nameless.tool, nameless.decision, nameless.reason) == ("", "blocked", "bad_call")


def test_policy_schema_overrides_the_declared_one() -> None:
    strict = {"type": "object", "properties": {"amount": {"type": "number", "maximum": 100}}}
    gov = governor(ToolPolicyConfig(schemas={"refund": strict}))
    assert decide(gov, "refund", {"amount": 500}) == ("blocked", "bad_arguments")
    assert decide(gov, "refund", {}) == ("allowed", "")  # the policy schema does not require amount


def test_argument_validation_can_be_switched_off() -> None:
    gov = governor(ToolPolicyConfig(validate_arguments=False))
    assert decide(gov, "search", "not json") == ("allowed", "")
    assert decide(gov, "nope") == ("blocked", "unknown_tool")


def test_invalid_policy_schema_fails_when_the_config_is_read() -> None:
    with pytest.raises(ValueError, match=r"schemas.refund\n.*invalid JSON Schema"):
        governor(ToolPolicyConfig(schemas={"refund": {"type": "nmber"}}))


def test_an_invalid_declared_schema_is_not_used_against_the_client() -> None:
    gov = governor(ToolPolicyConfig(), declared=[tool("odd", {"type": "object", "required": "query"})])
    d = gov.check_call(call("odd", {"x": 1}))
    assert d.decision == "allowed" and "not validated" in d.detail


def test_no_declared_tools_makes_every_call_unknown() -> None:
    assert decide(governor(ToolPolicyConfig(), declared=None), "search", {"query": "x"}) == (
        "blocked",
        "unknown_tool",
    )


def test_flag_mode_returns_policy_violations_flagged() -> None:
    gov = governor(
        ToolPolicyConfig(allow=["search", "refund"], require_approval=["refund"], action="flag"),
        killed={"delete_account"},
        key_allowlist=frozenset({"search", "refund", "ping", "delete_account", "ghost"}),
    )
    assert decide(gov, "ping") == ("flagged", "not_in_policy_allowlist")
    assert decide(gov, "search", {"query": 1}) == ("flagged", "bad_arguments")
    assert decide(gov, "delete_account") == ("blocked", "killed")  # always blocks
    assert decide(gov, "shell") == ("blocked", "not_in_key_allowlist")  # always blocks
    held = gov.check_call(call("refund", {"amount": "x"}))
    assert (held.decision, held.reason, held.detail) == ("held", "requires_approval", "also bad_arguments")


def test_decision_describe_and_explain() -> None:
    d = ToolDecision("refund", "call_9", "held", "requires_approval")
    assert d.describe() == {
        "tool": "refund",
        "call_id": "call_9",
        "decision": "held",
        "reason": "requires_approval",
        "detail": "",
    }
    assert not d.passes and ToolDecision("x", None, "flagged").passes
    assert d.explain() == "[pilothouse] tool call 'refund' is held for approval."
    blocked = ToolDecision("rm", None, "blocked", "killed")
    assert blocked.explain() == "[pilothouse] tool call 'rm' was blocked by policy (killed)."


# --- declarations ---------------------------------------------------------------------------------


def names(tools: list[dict[str, Any]] | None) -> list[str] | None:
    return None if tools is None else [t["function"]["name"] for t in tools]


def test_declarations_outside_the_allow_lists_are_removed() -> None:
    gov = governor(
        ToolPolicyConfig(allow=["search", "refund", "ping"], require_approval=["refund"]),
        killed={"ping"},
        key_allowlist=frozenset({"search", "refund", "ping", "delete_account"}),
    )
    assert names(gov.allowed_declarations()) == ["search", "refund"]  # refund is offered, then held
    reasons = {d.tool: (d.decision, d.reason) for d in gov.check_declarations()}
    assert reasons == {
        "search": ("allowed", ""),
        "refund": ("allowed", ""),
        "delete_account": ("blocked", "not_in_policy_allowlist"),
        "ping": ("blocked", "killed"),
    }


def test_flagging_policy_keeps_declarations() -> None:
    gov = governor(ToolPolicyConfig(allow=["search"], action="flag"))
    assert names(gov.allowed_declarations()) == ["search", "refund", "delete_account", "ping"]


def test_declarations_none_and_all_removed() -> None:
    assert governor(None, declared=None).allowed_declarations() is None
    assert governor(None, key_allowlist=frozenset()).allowed_declarations() == []
    assert governor(None, declared=[{"type": "function", "function": {}}]).allowed_declarations() == []


# --- messages -------------------------------------------------------------------------------------


def test_govern_message_keeps_only_passing_calls() -> None:
    gov = governor(ToolPolicyConfig(require_approval=["refund"]), killed={"delete_account"})
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            call("search", {"query": "tea"}, "c1"),
            call("delete_account", {}, "c2"),
            call("refund", {"amount": 3}, "c3"),
        ],
    }
    before = copy.deepcopy(message)
    out, decisions = gov.govern_message(message)
    assert message == before  # not mutated
    assert [c["id"] for c in out["tool_calls"]] == ["c1"]
    assert out["content"] is None  # a call remains: nothing to explain
    assert [(d.call_id, d.decision) for d in decisions] == [
        ("c1", "allowed"),
        ("c2", "blocked"),
        ("c3", "held"),
    ]
    assert finish_reason_after(out, "tool_calls") == "tool_calls"


def test_govern_message_with_no_call_left_explains() -> None:
    gov = governor(ToolPolicyConfig(require_approval=["refund"]), key_allowlist=frozenset({"refund"}))
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [call("search", {"query": "x"}, "c1"), call("refund", {"amount": 3}, "c2")],
    }
    out, _ = gov.govern_message(message)
    assert "tool_calls" not in out
    assert out["content"] == (
        "[pilothouse] tool call 'search' was blocked by policy (not_in_key_allowlist). "
        "[pilothouse] tool call 'refund' is held for approval."
    )
    assert finish_reason_after(out, "tool_calls") == "stop"
    with_text, _ = gov.govern_message({**message, "content": "Let me look that up."})
    assert with_text["content"] == "Let me look that up."


def test_govern_message_without_calls_is_unchanged() -> None:
    message = {"role": "assistant", "content": "Hello"}
    out, decisions = governor(ToolPolicyConfig()).govern_message(message)
    assert out is message and decisions == []
    assert finish_reason_after(out, "stop") == "stop" and finish_reason_after(out, "length") == "length"


def test_legacy_function_call_is_governed() -> None:
    gov = governor(None, killed={"refund"})
    message = {"role": "assistant", "content": None, "function_call": {"name": "refund", "arguments": "{}"}}
    out, decisions = gov.govern_message(message)
    assert "function_call" not in out and decisions[0].reason == "killed"
    assert finish_reason_after(out, "function_call") == "stop"
    kept, _ = gov.govern_message({**message, "function_call": {"name": "search", "arguments": "{}"}})
    assert kept["function_call"]["name"] == "search"
