"""Schema-driven fuzzing of the gateway's /v1 surface: no input may produce a 500, and every
error is OpenAI-shaped."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway_harness import Gateway, base_config, running_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    config = base_config(tmp)
    config["server"] = {"max_body_bytes": 32 * 1024}
    with running_gateway(config) as gw:
        yield gw


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "wizard", ""]) | json_values
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles},
        optional={
            "content": st.text(max_size=50) | json_values,
            "name": json_values,
            "tool_calls": json_values,
        },
    )
    | json_values,
    max_size=3,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["fake-chat", "fake-embed", "missing"]) | json_values,
        "messages": messages | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | json_values}) | json_values,
        "temperature": st.floats(allow_nan=False, allow_infinity=False) | json_values,
        "max_tokens": st.integers() | json_values,
        "n": st.integers() | json_values,
        "stop": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "response_format": json_values,
        "seed": json_values,
    },
)
embedding_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["fake-embed", "fake-chat"]) | json_values,
        "input": st.text(max_size=30) | st.lists(st.text(max_size=10), max_size=3) | json_values,
        "dimensions": st.integers() | json_values,
        "encoding_format": st.sampled_from(["float", "base64", "hex"]) | json_values,
    },
)


def send(gw: Gateway, path: str, body: bytes, auth: bool = True) -> tuple[int, bytes]:
    url = urlparse(gw.base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        headers = {"content-type": "application/json", **(gw.user_headers if auth else {})}
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check(status: int, raw: bytes) -> None:
    assert status < 500 or status in (502, 503, 504), raw[:300]
    if status >= 400:
        error = json.loads(raw)["error"]
        assert error["message"]
        assert isinstance(error["type"], str)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=chat_bodies)
def test_chat_never_500(gateway: Gateway, body: dict[str, Any]) -> None:
    status, raw = send(gateway, "/v1/chat/completions", json.dumps(body).encode())
    check(status, raw)
    if status == 200 and not body.get("stream"):
        assert json.loads(raw)["object"] == "chat.completion"


@FUZZ
@given(body=embedding_bodies)
def test_embeddings_never_500(gateway: Gateway, body: dict[str, Any]) -> None:
    status, raw = send(gateway, "/v1/embeddings", json.dumps(body).encode())
    check(status, raw)


@FUZZ
@given(raw_body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_never_500(gateway: Gateway, raw_body: bytes) -> None:
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        check(*send(gateway, path, raw_body))
