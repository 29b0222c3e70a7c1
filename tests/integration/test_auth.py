"""Virtual keys against the real gateway: every way a key can be bad, and what is stored."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway_harness import USER_KEY, Gateway, base_config, running_gateway

pytestmark = pytest.mark.integration

CHAT_BODY = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    with running_gateway(base_config(tmp_path)) as gw:
        yield gw


async def call(gw: Gateway, method: str, path: str, auth: str | None, body: Any = None) -> tuple[int, Any]:
    headers = {"authorization": auth} if auth is not None else {}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, gw.base_url + path, json=body, headers=headers) as r:
            assert r.headers.get("x-pilothouse-trace-id")
            return r.status, await r.json()


async def create_key(gw: Gateway, **spec: Any) -> tuple[str, dict[str, Any]]:
    status, body = await call(gw, "POST", "/api/keys", gw.admin_headers["authorization"], spec)
    assert status == 201, body
    return body["secret"], body["key"]


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer ", "invalid_api_key"),
        ("Basic dXNlcjpwYXNz", "invalid_api_key"),
        ("Bearer ph-not-a-real-key", "invalid_api_key"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
async def test_missing_or_wrong_key_is_401(gateway: Gateway, auth: str | None, code: str, path: str) -> None:
    status, body = await call(gateway, "POST", path, auth, CHAT_BODY)
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert body["error"]["code"] == code


async def test_models_needs_a_key(gateway: Gateway) -> None:
    status, body = await call(gateway, "GET", "/v1/models", None)
    assert status == 401
    assert body["error"]["code"] == "missing_api_key"


async def test_revoked_key_is_401_at_once(gateway: Gateway) -> None:
    secret, key = await create_key(gateway, name="short-lived")
    assert (await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY))[0] == 200
    status, body = await call(
        gateway, "DELETE", f"/api/keys/{key['key_id']}", gateway.admin_headers["authorization"]
    )
    assert status == 200
    assert body["key"]["revoked_at"] is not None
    status, body = await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
    assert status == 401
    assert body["error"]["code"] == "key_revoked"


async def test_expired_key_is_401(gateway: Gateway) -> None:
    secret, _ = await create_key(gateway, name="old", expires_at="2020-01-01T00:00:00Z")
    status, body = await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
    assert status == 401
    assert body["error"]["code"] == "key_expired"


async def test_key_limited_to_models_gets_403_elsewhere(gateway: Gateway) -> None:
    secret, _ = await create_key(gateway, name="embed-only", models=["fake-embed"])
    status, body = await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
    assert status == 403
    assert body["error"]["code"] == "model_not_allowed"
    status, _ = await call(
        gateway, "POST", "/v1/embeddings", f"Bearer {secret}", {"model": "fake-embed", "input": "x"}
    )
    assert status == 200
    status, body = await call(gateway, "GET", "/v1/models", f"Bearer {secret}")
    assert [m["id"] for m in body["data"]] == ["fake-embed"]


async def test_key_without_scope_gets_403(gateway: Gateway) -> None:
    secret, _ = await create_key(gateway, name="embeddings-scope", scopes=["embeddings"])
    status, body = await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
    assert status == 403
    assert body["error"]["code"] == "missing_scope"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/keys"), ("GET", "/api/traces"), ("POST", "/api/keys")]
)
async def test_non_admin_key_cannot_reach_api(gateway: Gateway, method: str, path: str) -> None:
    status, body = await call(gateway, method, path, f"Bearer {USER_KEY}", {"name": "x"})
    assert status == 403
    assert body["error"]["type"] == "permission_error"
    status, _ = await call(gateway, method, path, None, {"name": "x"})
    assert status == 401


async def test_admin_scoped_key_can_reach_api(gateway: Gateway) -> None:
    secret, _ = await create_key(gateway, name="ops", scopes=["admin"])
    status, body = await call(gateway, "GET", "/api/keys", f"Bearer {secret}")
    assert status == 200
    assert {k["name"] for k in body["data"]} >= {"test-user", "ops"}
    assert all("key_hash" not in k for k in body["data"])


async def test_keys_are_stored_only_hashed(gateway: Gateway) -> None:
    secret, key = await create_key(gateway, name="hashed")
    await call(gateway, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
    db = Path(gateway.runtime.store.path)
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT key_hash, prefix FROM keys WHERE key_id = ?", (key["key_id"],)).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1
    key_hash, prefix = rows[0]
    assert key_hash != secret
    assert len(key_hash) == 64
    assert secret.startswith(prefix)
    assert len(prefix) < len(secret) // 3
    for path in db.parent.iterdir():  # neither the database nor its WAL holds a secret in clear
        if path.name.startswith(db.name):
            content = path.read_bytes()
            assert secret.encode() not in content
            assert USER_KEY.encode() not in content


async def test_api_validates_new_keys(gateway: Gateway) -> None:
    status, body = await call(
        gateway, "POST", "/api/keys", gateway.admin_headers["authorization"], {"nom": "x"}
    )
    assert status == 422
    assert body["error"]["type"] == "invalid_request_error"
