"""The PostgreSQL store on a real server: the shared store contract, migrations under concurrent
start-up, and the real gateway and CLI running on it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
import yaml

from pilothouse.core.config import KeyConfig
from pilothouse.core.errors import ServiceUnavailable
from pilothouse.core.records import SpanRecord
from pilothouse.keys import KeyService
from pilothouse.store import Store, open_store
from pilothouse.store.base import to_nanos
from pilothouse.store.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from pilothouse.store.pg_migrations import MIGRATIONS, migrate
from pilothouse.store.postgres import PostgresStore, redact_url
from tests.gateway_harness import USER_KEY, Gateway, base_config, running_gateway
from tests.pg_service import PostgresServer
from tests.store_contract import StoreContract, trace

pytestmark = pytest.mark.integration

CHAT_BODY = {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]}


class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[Store]:
        store = open_store(postgres_url)
        assert isinstance(store, PostgresStore)
        await store.connect()
        yield store
        await store.aclose()


def test_migrations_have_the_same_names_as_sqlite() -> None:
    assert [name for name, _ in MIGRATIONS] == [name for name, _ in SQLITE_MIGRATIONS]


async def test_migrations_apply_once_and_record_names(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        assert await migrate(conn) == [name for name, _ in MIGRATIONS]
        assert await migrate(conn) == []
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        tables = {r[0] for r in await cur.fetchall()}
        assert {"teams", "keys", "traces", "spans", "meta", "schema_migrations"} <= tables
        cur = await conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'traces'"
        )
        types = dict(await cur.fetchall())
        assert types["record"] == "jsonb"
        assert types["created_at"] == "timestamp with time zone"
        assert types["cost_nanousd"] == "bigint"
        assert types["route"] == "text"


# Each process waits for the go file, then migrates; prints the names it applied.
_MIGRATE_SCRIPT = """
import asyncio, json, os, sys, time
import psycopg
from pilothouse.store.pg_migrations import migrate
url, go = sys.argv[1], sys.argv[2]
async def main():
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while not os.path.exists(go):
            time.sleep(0.001)
        print(json.dumps(await migrate(conn)))
asyncio.run(main())
"""


def test_processes_starting_together_migrate_once(postgres_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_SCRIPT, postgres_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # every process connected and polling: they start migrating within a millisecond
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(results, key=len) == [[], [], [name for name, _ in MIGRATIONS]]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)


async def test_replicas_starting_together_ensure_a_configured_key_once(postgres_url: str) -> None:
    spec = KeyConfig.model_validate({"name": "shared", "team": "ops", "secret": "ph-shared-0123456789abcdef"})
    replicas = [PostgresStore(postgres_url) for _ in range(3)]
    for store in replicas:
        await store.connect()
    try:
        records = await asyncio.gather(*(KeyService(store).ensure(spec) for store in replicas))
        assert len({r.key_id for r in records}) == 1
        assert len(await replicas[0].list_keys()) == 1
    finally:
        for store in replicas:
            await store.aclose()


async def test_nul_characters_are_stored_as_replacement_characters(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.connect()
    try:
        record = trace(
            "01NUL",
            requested_model="m\x00x",
            messages=[{"role": "user", "content": "a\x00b", "raw": "\\u0000 stays text"}],
            spans=[SpanRecord(span_id="s", name="auth", start_ms=0, duration_ms=1, attributes={"v": "\x00"})],
        )
        await store.write_traces([record])
        got = await store.get_trace("01NUL")
        assert got is not None
        assert got.requested_model == "m\ufffdx"
        assert got.messages == [{"role": "user", "content": "a\ufffdb", "raw": "\\u0000 stays text"}]
        assert got.spans[0].attributes == {"v": "\ufffd"}
        assert await store.list_traces(filters={"model": "m\x00x"}) != []
    finally:
        await store.aclose()


async def test_unreachable_server_is_a_clear_error_without_the_password() -> None:
    store = PostgresStore("postgresql://app:s3cret@127.0.0.1:1/pilothouse")
    with pytest.raises(ServiceUnavailable) as exc:
        await store.connect()
    assert "127.0.0.1" in exc.value.message
    assert "s3cret" not in exc.value.message
    assert redact_url("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    with pytest.raises(RuntimeError, match="not connected"):
        await store.count_traces()


async def _call(gw: Gateway, method: str, path: str, auth: str, body: Any = None) -> tuple[int, Any, str]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, gw.base_url + path, json=body, headers={"authorization": auth}) as r:
            return r.status, await r.json(), r.headers.get("x-pilothouse-trace-id", "")


async def test_gateway_on_postgres_traces_and_manages_keys(postgres_url: str, tmp_path: Path) -> None:
    config = base_config(tmp_path, storage={"url": postgres_url})
    with running_gateway(config) as gw:
        admin = gw.admin_headers["authorization"]
        status, body, trace_id = await _call(
            gw, "POST", "/v1/chat/completions", f"Bearer {USER_KEY}", CHAT_BODY
        )
        assert status == 200, body
        deadline = time.monotonic() + 10
        while (found := await _call(gw, "GET", f"/api/traces/{trace_id}", admin))[0] == 404:
            assert time.monotonic() < deadline, "trace never stored"
            await asyncio.sleep(0.05)
        status, stored, _ = found
        assert status == 200, stored
        assert stored["requested_model"] == "fake-chat"
        assert stored["status"] == "ok"
        assert stored["completion_tokens"] == body["usage"]["completion_tokens"]
        assert {s["name"] for s in stored["spans"]} >= {"auth"}
        status, listed, _ = await _call(gw, "GET", "/api/traces?limit=5", admin)
        assert status == 200 and trace_id in [t["trace_id"] for t in listed["data"]]

        status, created, _ = await _call(gw, "POST", "/api/keys", admin, {"name": "pg-key", "team": "pg"})
        assert status == 201, created
        secret, key = created["secret"], created["key"]
        assert key["team_name"] == "pg"
        assert (await _call(gw, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY))[0] == 200
        status, revoked, _ = await _call(gw, "DELETE", f"/api/keys/{key['key_id']}", admin)
        assert status == 200 and revoked["key"]["revoked_at"] is not None
        status, denied, _ = await _call(gw, "POST", "/v1/chat/completions", f"Bearer {secret}", CHAT_BODY)
        assert status == 401 and denied["error"]["code"] == "key_revoked"

    # The rows are in PostgreSQL, money exact in nano-USD, and the gateway closed its pool.
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT cost_nanousd, record->>'cost_usd' FROM traces WHERE trace_id = %s", (trace_id,)
        ).fetchone()
        assert row is not None and row[0] > 0
        assert row[0] == to_nanos(Decimal(row[1]))
        assert conn.execute("SELECT count(*) FROM keys WHERE revoked_at IS NOT NULL").fetchone() == (1,)
        others = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
        assert others == (0,)


def test_cli_keys_and_traces_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": postgres_url}}))
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pilothouse.cli", *args, "--config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    created = cli("keys", "create", "cli-key", "--team", "ops")
    assert created.returncode == 0, created.stderr
    listed = cli("keys", "list")
    assert listed.returncode == 0 and "cli-key" in listed.stdout and "ops" in listed.stdout
    assert cli("traces", "list").returncode == 0
    missing = cli("keys", "revoke", "ph-nothing")
    assert missing.returncode == 1 and "No single key" in missing.stderr


def test_session_server_is_loopback_only(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url()) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
        assert row == ("127.0.0.1",)
