"""Run the real gateway (uvicorn, real SQLite) on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn

from pilothouse.bootstrap import Runtime, build_runtime, create_app
from pilothouse.core.config import parse_config

ADMIN_KEY = "admin-test-key-0123456789"
USER_KEY = "ph-test-user-key-0123456789abcdef"


@dataclass
class Gateway:
    base_url: str
    runtime: Runtime
    admin_headers: dict[str, str]
    user_headers: dict[str, str]


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A config with fake providers for the gateway's own logic; tests add or replace parts."""
    config: dict[str, Any] = {
        "storage": {"url": f"sqlite:///{tmp_path / 'pilothouse.db'}"},
        "traces": {"flush_interval_ms": 20},
        "admin_key": ADMIN_KEY,
        "providers": {
            "fake": {"type": "fake", "reply": "Hello from the fake provider, nice to meet you."},
        },
        "models": [
            {
                "name": "fake-chat",
                "provider": "fake",
                "upstream": "fake-model",
                "input_price": 1.5,
                "output_price": 2.0,
            },
            {
                "name": "fake-embed",
                "provider": "fake",
                "upstream": "fake-embed",
                "kind": "embedding",
                "input_price": 0.1,
            },
        ],
        "keys": [{"name": "test-user", "team": "qa", "secret": USER_KEY}],
    }
    for key, value in overrides.items():
        config[key] = value
    return config


@contextmanager
def running_gateway(config_data: dict[str, Any]) -> Iterator[Gateway]:
    config = parse_config(config_data, source="test")
    runtime = build_runtime(config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime),
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.01)
    try:
        yield Gateway(
            base_url=f"http://127.0.0.1:{port}",
            runtime=runtime,
            admin_headers={"authorization": f"Bearer {ADMIN_KEY}"},
            user_headers={"authorization": f"Bearer {USER_KEY}"},
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


async def fetch_trace(gw: Gateway, trace_id: str) -> dict[str, Any]:
    """Traces are written in background batches: poll the admin API until it is there."""
    async with aiohttp.ClientSession(headers=gw.admin_headers) as http:
        for _ in range(250):
            async with http.get(f"{gw.base_url}/api/traces/{trace_id}") as r:
                if r.status == 200:
                    data: dict[str, Any] = await r.json()
                    return data
                assert r.status == 404, await r.text()
            await asyncio.sleep(0.02)
    raise AssertionError(f"trace {trace_id} was never stored")
