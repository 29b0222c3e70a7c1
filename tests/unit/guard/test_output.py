"""Output checks: the JSON Schema for an answer, validation with precise errors, the repair turn,
refusal and citation findings, and the guard errors that reach clients."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.core.json_schema import _compiled
from pilothouse.guard.errors import GuardBlocked, OutputValidationFailed, RouteDisabled
from pilothouse.guard.output import (
    check_schema,
    clean_json_answer,
    compiled_validator,
    detect_refusal,
    missing_citations,
    repair_messages,
    schema_errors,
    schema_of,
    validate_json_answer,
)
from pilothouse.guard.types import Finding

pytestmark = pytest.mark.unit

ORDER = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
            },
        },
        "currency": {"enum": ["EUR", "USD"]},
    },
    "required": ["items"],
    "additionalProperties": False,
}


# --- schema_of ------------------------------------------------------------------------------------


def test_schema_from_response_format() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "schema": ORDER, "strict": True}}
    assert schema_of(fmt, None) is ORDER
    assert schema_of({"type": "json_object"}, None) == {"type": "object"}
    assert schema_of({"type": "json_schema", "json_schema": {"name": "any"}}, None) == {}
    assert schema_of({"type": "text"}, None) is None
    assert schema_of(None, None) is None
    assert schema_of("json", None) is None


def test_configured_schema_wins() -> None:
    configured = {"type": "array"}
    assert schema_of({"type": "json_object"}, configured) is configured
    assert schema_of(None, configured) is configured


def test_a_schema_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        schema_of({"type": "json_schema", "json_schema": {"schema": ["type", "object"]}}, None)


# --- validation -----------------------------------------------------------------------------------


def test_valid_answer() -> None:
    assert (
        validate_json_answer('{"items": [{"name": "tea", "price": 3.5}], "currency": "EUR"}', ORDER) is None
    )
    assert validate_json_answer("  [1, 2]\n", None) is None  # no schema: any JSON


def test_invalid_json_says_where() -> None:
    assert validate_json_answer('{"items": [1 2]}', ORDER) == (
        "not valid JSON: Expecting ',' delimiter at line 1 column 14"
    )
    assert validate_json_answer('{"a": 1}\n{"b": 2}', None) == "not valid JSON: Extra data at line 2 column 1"
    assert validate_json_answer("Sure! Here it is: {}", None) == (
        "not valid JSON: Expecting value at line 1 column 1"
    )


def test_nested_schema_error_names_the_path() -> None:
    answer = '{"items": [{"name": "tea", "price": 3}, {"name": "cake", "price": "abc"}]}'
    assert validate_json_answer(answer, ORDER) == "$.items[1].price: 'abc' is not of type 'number'"


def test_several_errors_most_relevant_first() -> None:
    answer = '{"items": [{"price": "x"}, {}, {}, {}], "currency": "GBP", "extra": 1}'
    error = validate_json_answer(answer, ORDER)
    assert error is not None
    parts = error.split("; ")
    assert len(parts) == 3 and parts[-1].endswith("more)")
    assert all(p.startswith("$") for p in parts)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "the answer is empty: expected JSON"),
        ("  \n", "the answer is empty: expected JSON"),
        ("NaN", "not valid JSON: NaN is not allowed"),
        ('{"x": Infinity}', "not valid JSON: Infinity is not allowed"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
    ],
)
def test_answers_that_are_not_json(text: str | None, error: str) -> None:
    assert validate_json_answer(text, None) == error


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"items": []}\n```',
        '```JSON\n{"items": []}\n```\n',
        '\n```\n{"items": []}\n```',
        '```json {"items": []} ```',
    ],
)
def test_one_fence_around_the_whole_answer_is_tolerated(answer: str) -> None:
    assert validate_json_answer(answer, ORDER) is None
    assert clean_json_answer(answer) == '{"items": []}'


@pytest.mark.parametrize(
    "answer",
    [
        'Here you go:\n```json\n{"items": []}\n```',
        '```json\n{"items": []}\n```\nAnything else?',
        '```json\n{"items": []}\n```\n```json\n{"items": []}\n```',
        '```python\n{"items": []}\n```',
    ],
)
def test_prose_or_several_fences_are_not_json(answer: str) -> None:
    assert validate_json_answer(answer, ORDER) is not None


def test_clean_leaves_unfenced_answers_alone() -> None:
    assert clean_json_answer(' {"a": 1} ') == ' {"a": 1} '


def test_refs_resolve_inside_the_schema_only() -> None:
    schema = {
        "$defs": {"price": {"type": "number", "minimum": 0}},
        "properties": {"price": {"$ref": "#/$defs/price"}},
    }
    assert validate_json_answer('{"price": -1}', schema) == "$.price: -1 is less than the minimum of 0"
    with pytest.raises(ValueError, match="unresolvable"):
        validate_json_answer("{}", {"$ref": "https://example.invalid/schema.json"})


def test_invalid_schema_raises() -> None:
    with pytest.raises(ValueError, match=r"invalid JSON Schema at \$.properties.a.type"):
        check_schema({"type": "object", "properties": {"a": {"type": "strng"}}})
    with pytest.raises(ValueError, match="invalid JSON Schema"):
        validate_json_answer("{}", {"type": 3})


def test_validators_are_cached_by_canonical_schema() -> None:
    a = compiled_validator({"type": "object", "required": ["x"]})
    b = compiled_validator({"required": ["x"], "type": "object"})
    assert a is b
    assert _compiled.cache_info().maxsize == 256


def test_cached_validator_does_not_alias_the_callers_schema() -> None:
    schema: dict[str, Any] = {"type": "object", "required": ["x"]}
    compiled_validator(schema)
    schema["required"] = ["y"]
    assert validate_json_answer('{"x": 1}', {"type": "object", "required": ["x"]}) is None


def test_errors_without_values() -> None:
    value = {"items": [{"name": "secret-name-123", "price": "4111 1111 1111 1111"}], "zzz": "hidden"}
    error = schema_errors(value, ORDER, show_values=False)
    assert error is not None
    assert "4111" not in error and "hidden" not in error and "zzz" not in error
    assert '$.items[0].price: expected type "number"' in error
    assert schema_errors({"items": []}, ORDER, show_values=False) is None


# --- the repair turn ------------------------------------------------------------------------------


def test_repair_messages() -> None:
    messages = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "Order tea."}]
    before = copy.deepcopy(messages)
    out = repair_messages(messages, '{"items": "tea"}', "$.items: 'tea' is not of type 'array'")
    assert messages == before  # not mutated
    assert out[:2] == messages
    assert out[2] == {"role": "assistant", "content": '{"items": "tea"}'}
    assert out[3]["role"] == "user"
    assert "$.items: 'tea' is not of type 'array'" in out[3]["content"]
    assert "only the corrected JSON" in out[3]["content"]
    assert "JSON Schema" not in out[3]["content"]


def test_repair_messages_carry_a_policy_schema() -> None:
    out = repair_messages([], "{}", "$: 'items' is a required property", schema=ORDER)
    assert '"required":["items"]' in out[-1]["content"]


# --- refusals and citations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I\u2019m sorry, but I can\u2019t assist with this request.",
        "I can't help with that.",
        "I cannot assist with that request.",
        "Sorry. I cannot assist you with this.",
        "I am unable to provide that information.",
        "As an AI language model, I do not have personal opinions.",
        "I must respectfully decline to answer.",
        "I won't be able to help with this one.",
        "Unfortunately, I'm not able to share internal documents.",
        "This request violates my usage policies.",
        "I can't provide instructions for that.",
    ],
)
def test_refusals(text: str) -> None:
    finding = detect_refusal(text)
    assert finding is not None
    assert (finding.kind, finding.entity) == ("output", "REFUSAL")
    assert finding.detector.startswith("phrase:") and 0.5 < finding.score <= 1.0
    assert 0 <= finding.start < finding.end <= len(text)


@pytest.mark.parametrize(
    "text",
    [
        "I can't help but notice the bug is on line 3.",
        "I cannot stress enough how important tests are.",
        "I'm sorry to hear that! Here is how to reset your password.",
        "I can't wait to see the results.",
        "You can't help with that by shouting at the printer.",
        "The AI said: as a model it cannot browse.",
        "Here are the steps: 1. Open the settings.",
        "",
    ],
)
def test_not_refusals(text: str) -> None:
    assert detect_refusal(text) is None


def test_refusal_span_and_window() -> None:
    text = "Thanks for asking. I'm sorry, but I can't share that."
    finding = detect_refusal(text)
    assert finding is not None and text[finding.start : finding.end] == "I'm sorry, but I can't"
    late = "Here is the full answer. " * 40 + "I can't help with that part."
    assert detect_refusal(late) is None  # refusals open the answer


def test_content_filter_is_a_refusal() -> None:
    finding = detect_refusal("", finish_reason="content_filter")
    assert finding == Finding("output", "REFUSAL", 0, 0, 1.0, "finish_reason")


def test_missing_citations() -> None:
    assert missing_citations("Paris is the capital [1].", r"\[\d+\]") is None
    finding = missing_citations("Paris is the capital.", r"\[\d+\]")
    assert finding == Finding("output", "CITATION_MISSING", 0, 21, 1.0, "pattern")
    with pytest.raises(ValueError, match="citation pattern"):
        missing_citations("x", "[unclosed")


# --- errors clients see ---------------------------------------------------------------------------


def test_guard_blocked_names_entities_never_values() -> None:
    findings = [
        Finding("pii", "EMAIL", 0, 13, 0.99, "regex"),
        Finding("pii", "CREDIT_CARD", 20, 39, 0.95, "luhn"),
        Finding("pii", "EMAIL", 40, 50, 0.99, "regex"),
    ]
    err = GuardBlocked("pii", findings, direction="input", policy="customer-facing")
    body = err.to_dict()["error"]
    assert (err.status, body["type"], body["code"], body["param"]) == (
        400,
        "invalid_request_error",
        "guard_pii",
        "messages",
    )
    assert body["message"] == (
        "blocked by the pii guard of policy 'customer-facing': found EMAIL, CREDIT_CARD in the request."
    )
    out = GuardBlocked("content", ["TOPIC:weapons"], direction="output")
    assert out.code == "guard_content" and out.param is None and "in the answer" in out.message


def test_output_validation_failed() -> None:
    err = OutputValidationFailed("$.a: 'x' is not of type 'number'", attempts=2)
    body = err.to_dict()["error"]
    assert (err.status, body["type"], body["code"]) == (502, "api_error", "output_validation_failed")
    assert "after 2 attempts: $.a:" in body["message"]
    assert "after" not in OutputValidationFailed("bad").message


def test_route_disabled() -> None:
    err = RouteDisabled("support")
    assert (err.status, err.code, err.headers()) == (503, "route_disabled", [])
    assert "'support'" in err.message
