"""A gateway for ``pilothouse eval run`` when none is given: the project's config served in-process on
a loopback port, with a short-lived key for the run (revoked when it ends)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import uvicorn

from pilothouse.bootstrap import Runtime, build_runtime, create_app
from pilothouse.cli.common import fail
from pilothouse.core.config import Config
from pilothouse.core.errors import ConfigError

KEY_LIFETIME = timedelta(hours=12)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C must reach the eval run (which saves its state and
    then stops this server), not stop the gateway under requests still in flight."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(frozen=True)
class LocalGateway:
    base_url: str
    key: str
    runtime: Runtime


@contextlib.asynccontextmanager
async def local_gateway(config: Config) -> AsyncIterator[LocalGateway]:
    try:
        runtime = build_runtime(config)
    except ConfigError as exc:
        fail(exc.message, 2)
    server = _EmbeddedServer(
        uvicorn.Config(
            create_app(runtime),
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(config.server.drain_seconds),
        )
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # any free port: a gateway already serving on the configured one is fine
    port = sock.getsockname()[1]
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                await serving  # start-up failed: surface its error
                fail("the in-process gateway did not start")
            await asyncio.sleep(0.02)
        expires = datetime.now(UTC) + KEY_LIFETIME
        key, record = await runtime.keys.create("eval-run", team="evals", expires_at=expires)
        try:
            yield LocalGateway(f"http://127.0.0.1:{port}", key, runtime)
        finally:
            await runtime.keys.revoke(record.key_id)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()
