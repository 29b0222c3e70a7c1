"""Prompt references through the real gateway with the real ``openai`` client.

The fake provider echoes the last user message, so each answer shows which prompt version
rendered it; each trace must name that version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from pilothouse.bootstrap import build_prompt_registry
from pilothouse.prompts import PromptSpec
from pilothouse.store import SQLiteStore
from tests.gateway_harness import USER_KEY, Gateway, base_config, fetch_trace, running_gateway
from tests.integration.prompt_support import cli

pytestmark = pytest.mark.integration

LIMITED_KEY = "ph-test-limited-key-0123456789abcdef"
VARIABLES = {"customer": "Ada", "question": "where is my invoice?"}


def prompt_file(version_tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "support-reply",
        "description": "Answer a support question.",
        "model": "fake-chat",
        "params": {"temperature": 0.3, "max_tokens": 64},
        "variables": {"customer": {"description": "first name"}, "question": {}},
        "messages": [
            {"role": "system", "content": "You are a support agent."},
            {"role": "user", "content": version_tag + ": {{ customer }} asks {{ question }}"},
        ],
        **extra,
    }


def gateway_config(tmp_path: Path) -> dict[str, Any]:
    config = base_config(tmp_path)
    config["providers"] = {
        "fake": {"type": "fake", "echo": True},
        "alt": {"type": "fake", "reply": "the alternative model"},
    }
    config["models"].append({"name": "fake-alt", "provider": "alt", "upstream": "alt-model"})
    config["keys"].append({"name": "limited", "secret": LIMITED_KEY, "models": ["fake-alt"]})
    return config


def seed(db: Path, specs: list[dict[str, Any]], labels: dict[str, int]) -> None:
    """Register prompts straight in the store, as another process (the CLI, CI) would."""

    async def work() -> None:
        store = SQLiteStore(str(db))
        try:
            registry = build_prompt_registry(store)
            for data in specs:
                await registry.push(PromptSpec.model_validate(data), who="seed", why="test setup")
            for label, version in labels.items():
                await registry.promote(
                    "support-reply", version, label, who="seed", why="test setup", force=True
                )
        finally:
            await store.aclose()

    asyncio.run(work())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("prompts")
    config = gateway_config(tmp)
    no_model = {"name": "modelless", "messages": [{"role": "user", "content": "hi"}]}
    seed(
        tmp / "pilothouse.db",
        [prompt_file("v1"), prompt_file("v2"), no_model],
        {"production": 1, "staging": 2},
    )
    with running_gateway(config) as gw:
        yield gw


def client(gw: Gateway, key: str = USER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key, max_retries=0)


def ask(gw: Gateway, prompt: str, variables: dict[str, Any] | None = None, **kw: Any) -> tuple[str, str]:
    """The answer's text and its trace id."""
    kw.setdefault("model", "prompt")
    kw.setdefault("messages", [])
    with client(gw) as openai_client:
        raw = openai_client.chat.completions.with_raw_response.create(
            extra_body={"prompt": prompt, "variables": VARIABLES if variables is None else variables}, **kw
        )
        completion = raw.parse()
    return completion.choices[0].message.content or "", raw.headers["x-pilothouse-trace-id"]


def trace_of(gw: Gateway, trace_id: str) -> dict[str, Any]:
    return asyncio.run(fetch_trace(gw, trace_id))


def test_reference_renders_the_labelled_version_and_the_trace_names_it(gateway: Gateway) -> None:
    answer, trace_id = ask(gateway, "support-reply@production")
    assert answer == "v1: Ada asks where is my invoice?"
    trace = trace_of(gateway, trace_id)
    assert (trace["prompt"], trace["prompt_version"], trace["prompt_label"]) == (
        "support-reply",
        1,
        "production",
    )
    assert trace["requested_model"] == "fake-chat" and trace["route"] == "fake-chat"
    assert trace["messages"] == [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "v1: Ada asks where is my invoice?"},
    ]
    assert trace["params"] == {"temperature": 0.3, "max_tokens": 64}
    span = next(s for s in trace["spans"] if s["name"] == "prompt")
    assert span["attributes"]["pilothouse.prompt.version"] == 1
    # A bare name means production; labels and pinned versions resolve too.
    assert ask(gateway, "support-reply")[0].startswith("v1:")
    answer, trace_id = ask(gateway, "support-reply@staging")
    assert answer.startswith("v2:") and trace_of(gateway, trace_id)["prompt_label"] == "staging"
    answer, trace_id = ask(gateway, "support-reply@2", model="")
    assert answer.startswith("v2:")
    trace = trace_of(gateway, trace_id)
    assert trace["prompt_version"] == 2 and trace["prompt_label"] is None


def test_client_messages_follow_and_client_params_win(gateway: Gateway) -> None:
    answer, trace_id = ask(
        gateway,
        "support-reply@production",
        messages=[{"role": "user", "content": "and one more thing"}],
        temperature=0.9,
    )
    assert answer == "and one more thing"  # appended after the prompt's messages
    trace = trace_of(gateway, trace_id)
    assert [m["content"] for m in trace["messages"]][-2:] == [
        "v1: Ada asks where is my invoice?",
        "and one more thing",
    ]
    assert trace["params"] == {"temperature": 0.9, "max_tokens": 64}


def test_a_named_model_overrides_the_prompts(gateway: Gateway) -> None:
    answer, trace_id = ask(gateway, "support-reply@production", model="fake-alt")
    assert answer == "the alternative model"
    trace = trace_of(gateway, trace_id)
    assert trace["route"] == "fake-alt" and trace["prompt_version"] == 1


def test_streaming_renders_the_same(gateway: Gateway) -> None:
    with client(gateway) as openai_client:
        stream = openai_client.chat.completions.create(
            model="prompt",
            messages=[],
            stream=True,
            extra_body={"prompt": "support-reply@staging", "variables": VARIABLES},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "v2: Ada asks where is my invoice?"


@pytest.mark.parametrize(
    ("prompt", "variables", "error", "code", "param"),
    [
        ("nope@production", VARIABLES, openai.NotFoundError, "prompt_not_found", "prompt"),
        ("support-reply@canary", VARIABLES, openai.NotFoundError, "prompt_label_not_found", "prompt"),
        ("support-reply@9", VARIABLES, openai.NotFoundError, "prompt_version_not_found", "prompt"),
        ("support-reply@", VARIABLES, openai.BadRequestError, "invalid_prompt_reference", "prompt"),
        (
            "support-reply",
            {"customer": "Ada"},
            openai.BadRequestError,
            "invalid_prompt_variables",
            "variables.question",
        ),
        (
            "support-reply",
            {**VARIABLES, "x": 1},
            openai.BadRequestError,
            "invalid_prompt_variables",
            "variables.x",
        ),
        ("modelless@latest", {}, openai.BadRequestError, "invalid_request", "model"),
    ],
)
def test_bad_references_and_variables_get_openai_errors(
    gateway: Gateway,
    prompt: str,
    variables: dict[str, Any],
    error: type[openai.APIStatusError],
    code: str,
    param: str,
) -> None:
    with pytest.raises(error) as exc:
        ask(gateway, prompt, variables)
    body = exc.value.body
    assert isinstance(body, dict) and body["code"] == code and body["param"] == param
    trace = trace_of(gateway, exc.value.response.headers["x-pilothouse-trace-id"])
    assert trace["status"] == "error" and trace["attributes"]["pilothouse.prompt.ref"] == prompt
    assert trace["prompt"] == (None if code == "invalid_prompt_reference" else prompt.partition("@")[0])


def test_invalid_prompt_fields_are_422s(gateway: Gateway) -> None:
    with client(gateway) as openai_client:
        chat = openai_client.chat.completions
        for extra in ({"prompt": 7}, {"prompt": "support-reply", "variables": ["x"]}, {"prompt": None}):
            with pytest.raises(openai.UnprocessableEntityError):
                chat.create(model="prompt", messages=[], extra_body=extra)
        # Without a prompt, empty messages and the placeholder model stay errors.
        with pytest.raises(openai.UnprocessableEntityError):
            chat.create(model="fake-chat", messages=[])
        with pytest.raises(openai.NotFoundError):
            chat.create(model="prompt", messages=[{"role": "user", "content": "x"}])


def test_access_control_checks_the_model_the_prompt_picks(gateway: Gateway) -> None:
    with client(gateway, LIMITED_KEY) as limited:
        with pytest.raises(openai.PermissionDeniedError):
            limited.chat.completions.create(
                model="prompt", messages=[], extra_body={"prompt": "support-reply", "variables": VARIABLES}
            )
        done = limited.chat.completions.create(
            model="fake-alt", messages=[], extra_body={"prompt": "support-reply", "variables": VARIABLES}
        )
    assert done.choices[0].message.content == "the alternative model"


# --- acceptance: files, promotion and rollback from the CLI while the gateway serves -------------
def wait_for(gw: Gateway, prefix: str) -> tuple[str, str]:
    """Ask until the answer comes from the expected version (the gateway polls for changes each second)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            answer, trace_id = ask(gw, "support-reply@production")
            if answer.startswith(prefix):
                return answer, trace_id
        except openai.NotFoundError:  # the label is not there yet
            pass
        assert time.monotonic() < deadline, f"the gateway never served {prefix}"
        time.sleep(0.1)


def test_acceptance_push_promote_call_rollback(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    (tmp_path / "pilothouse.yaml").write_text(yaml.safe_dump(config))
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    source = prompts / "support-reply.yaml"
    with running_gateway(config) as gw:
        source.write_text(yaml.safe_dump(prompt_file("v1")))
        cli("prompts", "push", "--who", "ann", "--why", "first draft", cwd=tmp_path)
        source.write_text(yaml.safe_dump(prompt_file("v2")))
        pushed = cli("prompts", "push", "--who", "ann", "--why", "friendlier", cwd=tmp_path)
        assert "new version" in pushed.stdout

        # Production without a passing eval gate is refused; forcing needs a reason.
        refused = cli("prompts", "promote", "support-reply", "1", cwd=tmp_path, check=False)
        assert refused.returncode == 1 and "no passing gated eval run" in refused.stderr
        cli("prompts", "promote", "support-reply", "1", "--force", "--why", "evals pending", cwd=tmp_path)
        first, first_trace = wait_for(gw, "v1:")
        retried = {"Idempotency-Key": "ticket-42"}
        assert ask(gw, "support-reply", extra_headers=retried)[0].startswith("v1:")
        cli("prompts", "promote", "support-reply", "2", "--force", "--why", "v2 reads better", cwd=tmp_path)
        second, second_trace = wait_for(gw, "v2:")
        # A retry is bound to what the client sent, not to what the label renders now: it replays.
        assert ask(gw, "support-reply", extra_headers=retried)[0].startswith("v1:")
        rolled = cli("prompts", "rollback", "support-reply", "--why", "v2 too chatty", cwd=tmp_path)
        assert "from version 2 to version 1" in rolled.stdout
        third, third_trace = wait_for(gw, "v1:")

        served = [(first, first_trace, 1), (second, second_trace, 2), (third, third_trace, 1)]
        for answer, trace_id, version in served:
            assert answer == f"v{version}: Ada asks where is my invoice?"
            trace = trace_of(gw, trace_id)
            assert (trace["prompt"], trace["prompt_version"], trace["prompt_label"]) == (
                "support-reply",
                version,
                "production",
            )
        shown = cli("traces", "show", third_trace, cwd=tmp_path)
        assert "support-reply@1 (via label production)" in shown.stdout

    history = cli("prompts", "history", "support-reply", cwd=tmp_path).stdout
    for fragment in (
        "first draft",
        "friendlier",
        "promote (forced)",
        "evals pending",
        "rollback",
        "v2 too chatty",
    ):
        assert fragment in history
