"""Prompt specs, hashes, references, rendering and files: pure logic, no store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pilothouse.core.errors import ConfigError, InvalidRequest
from pilothouse.prompts import PromptSpec, compile_prompt, load_dir, load_prompt_file, parse_ref, spec_to_yaml

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[2] / "examples" / "prompts" / "support-reply.yaml"


def make(**fields: Any) -> PromptSpec:
    data: dict[str, Any] = {
        "name": "greet",
        "variables": {"who": {}},
        "messages": [{"role": "user", "content": "Hello {{ who }}"}],
    }
    data.update(fields)
    return PromptSpec.model_validate(data)


def error_of(**fields: Any) -> str:
    with pytest.raises(ValidationError) as exc:
        make(**fields)
    return str(exc.value)


# --- spec and hash -----------------------------------------------------------------------------
def test_example_prompt_file_loads_and_renders() -> None:
    spec = load_prompt_file(EXAMPLE)
    assert spec.name == "support-reply" and spec.model == "smollm2"
    messages = compile_prompt(spec, 1).render(
        {"customer": "Ada", "question": "Where is my invoice?", "facts": ["Invoices are under Billing."]}
    )
    assert messages[1] == {"role": "user", "content": "Ada asks: Where is my invoice?"}
    assert "support agent for Acme Cloud" in messages[0]["content"]
    assert "- Invoices are under Billing." in messages[0]["content"]
    without_facts = compile_prompt(spec, 1).render({"customer": "Ada", "question": "?"})
    assert "Facts" not in without_facts[0]["content"]


def test_hash_ignores_spelled_out_defaults_and_key_order_but_not_content() -> None:
    base = make()
    spelled = PromptSpec.model_validate(
        {
            "messages": [{"content": "Hello {{ who }}", "role": "user"}],
            "variables": {"who": {"required": True, "description": ""}},
            "params": {},
            "tags": [],
            "name": "greet",
            "description": "",
        }
    )
    assert spelled.content_hash() == base.content_hash()
    assert base.content_hash().startswith("sha256:")
    assert make(params={"temperature": 0.3}).content_hash() != base.content_hash()
    changed = make(messages=[{"role": "user", "content": "Hi {{ who }}"}])
    assert changed.content_hash() != base.content_hash()


def test_a_default_makes_a_variable_optional() -> None:
    spec = make(variables={"who": {"default": "world"}})
    assert spec.variables["who"].required is False
    assert compile_prompt(spec, 1).render({}) == [{"role": "user", "content": "Hello world"}]
    assert "takes no default" in error_of(variables={"who": {"required": True, "default": "x"}})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"messages": [{"role": "user", "content": "Hi {{ whom }}"}]}, "undeclared variable 'whom'"),
        ({"messages": [{"role": "user", "content": "Hi {{ who "}]}, "template syntax error on line 1"),
        ({"messages": []}, "at least 1 item"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"params": {"temprature": 0.2}}, "temprature"),
        ({"params": {"temperature": 7}}, "less than or equal to 2"),
        ({"params": {"max_tokens": "20"}}, "max_tokens"),
        ({"name": "bad name"}, "string should match pattern"),
        ({"name": "a@b"}, "string should match pattern"),
        ({"variables": {"who": {}, "not-ok": {}}}, "not an identifier"),
        ({"variables": {"who": {}, "range": {}}}, "template built-in"),
        ({"output_schema": {"type": "nonsense"}}, "not a valid JSON Schema"),
        ({"description": "a\x00b"}, "NUL"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_specs_say_what_is_wrong(fields: dict[str, Any], expected: str) -> None:
    assert expected.lower() in error_of(**fields).lower()


def test_loops_and_builtins_are_not_undeclared_variables() -> None:
    spec = make(
        variables={"items": {}},
        messages=[{"role": "user", "content": "{% for i in items %}{{ loop.index }}:{{ i }} {% endfor %}"}],
    )
    assert compile_prompt(spec, 1).render({"items": ["a", "b"]})[0]["content"] == "1:a 2:b "


# --- references --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("support-reply", ("support-reply", "production")),
        ("support-reply@staging", ("support-reply", "staging")),
        ("support-reply@latest", ("support-reply", "latest")),
        ("support-reply@3", ("support-reply", 3)),
        ("  v1.two_3@canary-b ", ("v1.two_3", "canary-b")),
    ],
)
def test_references_parse(ref: str, parsed: tuple[str, int | str]) -> None:
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "@prod", "a@", "a@0", "a@-1", "a@3b", "a b", "a@x@y", "a@pro duction"])
def test_bad_references_are_400s(ref: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_ref(ref)
    assert exc.value.status == 400 and exc.value.code == "invalid_prompt_reference"
    assert exc.value.param == "prompt"


# --- rendering ---------------------------------------------------------------------------------
def test_missing_and_undeclared_variables_are_named() -> None:
    prompt = compile_prompt(make(variables={"who": {"description": "Who to greet."}}), 4)
    with pytest.raises(InvalidRequest) as exc:
        prompt.render({})
    assert exc.value.param == "variables.who" and exc.value.code == "invalid_prompt_variables"
    assert exc.value.message == "Prompt 'greet@4' needs the variable 'who' (Who to greet)."
    with pytest.raises(InvalidRequest) as exc:
        prompt.render({"who": "x", "extra": 1})
    assert exc.value.param == "variables.extra"
    assert "does not declare the variable 'extra' (it takes: who)" in exc.value.message


def test_optional_variable_without_default_renders_as_none() -> None:
    spec = make(
        variables={"who": {}, "title": {"required": False}},
        messages=[{"role": "user", "content": "Hello {% if title %}{{ title }} {% endif %}{{ who }}"}],
    )
    prompt = compile_prompt(spec, 1)
    assert prompt.render({"who": "Ada"})[0]["content"] == "Hello Ada"
    assert prompt.render({"who": "Ada", "title": "Dr"})[0]["content"] == "Hello Dr Ada"


@pytest.mark.parametrize(
    "template",
    [
        "{{ who.name }}",  # strict: a missing attribute fails instead of rendering empty
        "{{ who.__class__.__mro__ }}",  # sandbox: no way into Python internals
        "{{ who.append(1) }}",  # immutable sandbox: the caller's data cannot be changed
        "{{ who + 1 }}",
    ],
)
def test_render_failures_from_the_callers_data_are_400s(template: str) -> None:
    prompt = compile_prompt(make(messages=[{"role": "user", "content": template}]), 2)
    with pytest.raises(InvalidRequest) as exc:
        prompt.render({"who": ["x"]})
    assert exc.value.status == 400 and "greet@2" in exc.value.message


def test_apply_builds_the_upstream_body() -> None:
    spec = make(
        model="m",
        params={"temperature": 0.1, "max_tokens": 50, "stop": ["\n"]},
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi {{ who }}"}],
        tools=[{"type": "function", "function": {"name": "f"}}],
    )
    body = {
        "model": "prompt",
        "prompt": "greet",
        "variables": {"who": "Ada"},
        "messages": [{"role": "user", "content": "and more"}],
        "max_tokens": 9,
        "temperature": None,
        "user": "u1",
    }
    out = compile_prompt(spec, 1).apply(body, body["variables"])
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi Ada"},
        {"role": "user", "content": "and more"},
    ]
    assert (out["max_tokens"], out["temperature"], out["stop"]) == (9, 0.1, ["\n"])  # the request wins
    assert out["tools"] == spec.tools and out["user"] == "u1"
    assert "prompt" not in out and "variables" not in out
    assert body["messages"] == [{"role": "user", "content": "and more"}]  # the input is left alone


def test_output_schema_becomes_a_json_schema_response_format_unless_one_is_given() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    prompt = compile_prompt(make(name="qa.v2", output_schema=schema), 1)
    out = prompt.apply({}, {"who": "x"})
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "qa_v2", "schema": schema},
    }
    mine = {"type": "json_object"}
    assert prompt.apply({"response_format": mine}, {"who": "x"})["response_format"] == mine


# --- files -------------------------------------------------------------------------------------
def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_file_round_trip_is_exact_and_readable(tmp_path: Path) -> None:
    spec = load_prompt_file(EXAMPLE)
    text = spec_to_yaml(spec)
    assert "content: |\n" in text  # multi-line templates stay literal blocks
    again = load_prompt_file(write(tmp_path, "support-reply.yaml", text))
    assert again == spec and again.content_hash() == spec.content_hash()
    assert yaml.safe_load(text)["name"] == "support-reply"


def test_name_defaults_to_the_file_name_and_must_match_it(tmp_path: Path) -> None:
    body = "messages:\n  - role: user\n    content: hi\n"
    assert load_prompt_file(write(tmp_path, "hello.yaml", body)).name == "hello"
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_prompt_file(write(tmp_path, "other.yaml", "name: hello\n" + body))


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "name: broken\nmessages:\n  - role: user\n    content: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_prompt_file(path)
    assert f"{path}:5:" in exc.value.message and "invalid YAML" in exc.value.message


def test_schema_errors_name_file_line_and_key_path(tmp_path: Path) -> None:
    text = (
        "name: bad\n"
        "params:\n"
        "  temperature: 0.2\n"
        "  max_tokens: -3\n"
        "messages:\n"
        "  - role: user\n"
        "    content: hi\n"
    )
    with pytest.raises(ConfigError) as exc:
        load_prompt_file(write(tmp_path, "bad.yaml", text))
    assert exc.value.source == f"{tmp_path / 'bad.yaml'}:4"
    assert exc.value.path == "params.max_tokens"
    text = "messages:\n  - role: user\n    content: hi\n  - role: user\n    content: '{% if %}'\n"
    with pytest.raises(ConfigError) as exc:
        load_prompt_file(write(tmp_path, "syntax.yaml", text))
    assert exc.value.path == "messages[1].content" and exc.value.source.endswith("syntax.yaml:5")
    assert "template syntax error" in exc.value.message


def test_a_directory_loads_sorted_and_refuses_duplicates(tmp_path: Path) -> None:
    body = "messages:\n  - role: user\n    content: hi\n"
    write(tmp_path, "b.yaml", body)
    write(tmp_path, "a.yml", body)
    write(tmp_path, "notes.txt", "not a prompt")
    assert [spec.name for _, spec in load_dir(tmp_path)] == ["a", "b"]
    write(tmp_path, "a.yaml", body)
    with pytest.raises(ConfigError, match="also defined"):
        load_dir(tmp_path)
    with pytest.raises(ConfigError, match="no such prompts directory"):
        load_dir(tmp_path / "missing")
