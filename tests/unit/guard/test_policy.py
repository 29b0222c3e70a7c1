"""Which policy a request gets, how route and team policies combine, and compile errors."""

from __future__ import annotations

import pytest

from pilothouse.core.guarding import GuardSettings
from pilothouse.guard.events import EVENTS_ATTRIBUTE, GuardEvents
from pilothouse.guard.policy import GuardBook
from pilothouse.guard.storage import PayloadRedactor
from pilothouse.guard.types import Finding
from pilothouse.traces import TraceBuilder

pytestmark = pytest.mark.unit


def book(**settings: object) -> GuardBook:
    return GuardBook(GuardSettings.model_validate(settings))


POLICIES = {
    "route-p": {
        "input": [{"guard": "pii", "action": "redact"}],
        "storage": "redacted",
        "tools": {"allow": ["search"]},
    },
    "team-p": {
        "input": [{"guard": "injection", "action": "block"}],
        "output": [{"guard": "refusal"}],
        "storage": "none",
        "agent": {"max_steps": 3},
    },
    "fallback": {"output": [{"guard": "pii", "action": "flag"}]},
}


def test_route_and_team_policies_both_apply() -> None:
    b = book(policies=POLICIES, routes={"support": "route-p"}, teams={"growth": "team-p"}, default="fallback")
    both = b.policy_for("support", "growth")
    assert both is not None
    assert both.name == "route-p+team-p"
    assert [g.name for g in both.input] == ["pii", "injection"]  # route first
    assert both.storage == "none"  # the stricter rule wins
    assert both.tools is not None and both.tools.allow == ["search"]
    assert both.agent is not None and both.refusal is not None
    assert b.policy_for("support", "growth") is both  # resolved once per pair


def test_default_only_when_neither_names_a_policy() -> None:
    b = book(policies=POLICIES, routes={"support": "route-p"}, default="fallback")
    route_only = b.policy_for("support", "qa")
    assert route_only is not None and route_only.name == "route-p"
    other = b.policy_for("other", None)
    assert other is not None and other.name == "fallback" and other.checks_answers
    assert not other.checks_requests
    assert book(policies=POLICIES).policy_for("other", None) is None


def test_same_policy_named_twice_applies_once() -> None:
    b = book(policies=POLICIES, routes={"support": "route-p"}, teams={"qa": "route-p"})
    policy = b.policy_for("support", "qa")
    assert policy is not None and len(policy.input) == 1


def test_disabled_guards_are_left_out_and_bad_regexes_fail_at_compile() -> None:
    b = book(policies={"p": {"input": [{"guard": "pii", "action": "block", "enabled": False}]}})
    assert b.policies()["p"].input == ()
    with pytest.raises(ValueError, match="regexes"):
        book(policies={"p": {"input": [{"guard": "content", "regexes": ["(unclosed"]}]}})


def test_kill_switch_is_in_the_book_and_counts_as_work() -> None:
    assert book().empty
    killed = book(kill={"tools": ["wipe_disk"]})
    assert not killed.empty and killed.kill.tools == {"wipe_disk"}


def test_events_carry_entities_and_spans_but_no_text() -> None:
    trace = TraceBuilder("chat")
    events = GuardEvents(trace, "input")
    text = "mail ada@example.com"
    finding = Finding("pii", "EMAIL", 5, 20, 0.99, "regex:email")

    class Guard:
        name, action = "pii", "flag"

    events.record(Guard(), [finding], direction="input", message=0)
    events.span(0.0)
    stored = trace.attributes[EVENTS_ATTRIBUTE]
    assert stored == [
        {
            "guard": "pii",
            "action": "flag",
            "direction": "input",
            "entities": {"EMAIL": 1},
            "findings": [finding.describe()],
            "message": 0,
        }
    ]
    assert text[5:20] not in repr(stored)
    assert trace.flags == ["guard_flag"]
    assert trace.spans[-1].name == "guard.input"


def test_payload_redactor_numbers_values_across_messages_and_output() -> None:
    messages = [{"role": "user", "content": "I am ada@example.com, card 4111 1111 1111 1111"}]
    output = {"role": "assistant", "content": "Noted, ada@example.com."}
    kept_messages, kept_output = PayloadRedactor()(messages, output)
    assert kept_messages[0]["content"] == "I am <EMAIL_1>, card <CREDIT_CARD_1>"
    assert kept_output["content"] == "Noted, <EMAIL_1>."
    assert messages[0]["content"].startswith("I am ada@")  # the originals are untouched


def test_payload_redactor_keeps_nothing_raw_past_its_budget() -> None:
    inputs = ["mail ada@example.com", "x" * 50, "call bob@example.org now"]
    kept, _ = PayloadRedactor(max_chars=80)(inputs, None)
    assert kept[0] == "mail <EMAIL_1>"
    assert kept[1] == "x" * 50
    assert kept[2] == "[not kept: 24 characters past the trace redaction budget]"
