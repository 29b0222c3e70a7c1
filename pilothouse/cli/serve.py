"""``pilothouse serve``: run the gateway (one process, uvicorn)."""

from __future__ import annotations

import importlib.util
import logging
from typing import Annotated

import typer
import uvicorn

from pilothouse.bootstrap import Runtime, build_runtime, create_app
from pilothouse.cli.common import ConfigOption, console, fail, resolve_config
from pilothouse.core.config import Config
from pilothouse.core.errors import ConfigError


def build_server(config: Config, *, log_level: str = "warning") -> tuple[uvicorn.Server, Runtime]:
    try:
        runtime = build_runtime(config)
    except ConfigError as exc:
        fail(exc.message, 2)
    server_config = uvicorn.Config(
        create_app(runtime),
        host=config.server.host,
        port=config.server.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        # uvicorn stops accepting, then waits this long for open connections (streams) to finish.
        timeout_graceful_shutdown=int(config.server.drain_seconds),
    )
    return uvicorn.Server(server_config), runtime


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="override server.host")] = None,
    port: Annotated[int | None, typer.Option(help="override server.port")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Run the gateway until interrupted; SIGTERM drains in-flight streams before exiting."""
    cfg = resolve_config(config)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update=overrides)})
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server, _ = build_server(cfg, log_level=log_level)
    console.print(
        f"Pilothouse gateway on http://{cfg.server.host}:{cfg.server.port}/v1 (storage {cfg.storage.url})"
    )
    server.run()
