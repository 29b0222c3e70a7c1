"""Composition root: config -> concrete objects -> the wired ASGI application."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pilothouse.core.config import Config
from pilothouse.core.ports import Provider
from pilothouse.gateway.app import GatewayApp
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.gateway.idempotency import Idempotency, MemoryIdempotencyStore
from pilothouse.gateway.stages import AccessControl, Accounting
from pilothouse.keys import KeyAuthenticator, KeyService
from pilothouse.providers import build_provider
from pilothouse.routing import Deployment, Route, Router
from pilothouse.routing.breaker import LocalBreakerBoard
from pilothouse.store import SQLiteStore, open_store
from pilothouse.traces import BatchTraceWriter
from pilothouse.traces.metrics import FanoutSink, Metrics, MetricsSink
from pilothouse.web.admin import create_admin_app

log = logging.getLogger("pilothouse")


@dataclass
class Runtime:
    """Everything one gateway process runs on."""

    config: Config
    store: SQLiteStore
    providers: dict[str, Provider]
    router: Router
    authenticator: KeyAuthenticator
    keys: KeyService
    traces: BatchTraceWriter

    async def start(self) -> None:
        self.traces.start()
        for spec in self.config.keys:
            await self.keys.ensure(spec)

    async def stop(self) -> None:
        await self.traces.stop()
        for provider in self.providers.values():
            await provider.aclose()
        self.store.close()


def build_router(config: Config, providers: dict[str, Provider]) -> Router:
    deployments = {
        m.name: Deployment(
            model=m, provider=providers[m.provider], timeout=m.timeout or config.server.request_timeout
        )
        for m in config.models
    }
    routes = {
        r.name: Route(
            name=r.name,
            config=r,
            deployments=tuple(deployments[n] for n in r.deployments),
            fallbacks=tuple(deployments[n] for n in r.fallbacks),
        )
        for r in config.routes
    }
    return Router(deployments, routes, breakers=LocalBreakerBoard(config.circuit_breaker))


def build_runtime(config: Config) -> Runtime:
    """Build every object from config. Raises ConfigError (with the key path) on bad settings."""
    providers = {name: build_provider(name, spec) for name, spec in config.providers.items()}
    store = open_store(config.storage.url)
    router = build_router(config, providers)
    authenticator = KeyAuthenticator(store, admin_key=config.admin_key)
    keys = KeyService(store, authenticator)
    traces = BatchTraceWriter(
        store,
        batch_size=config.traces.batch_size,
        flush_interval=config.traces.flush_interval_ms / 1000.0,
        queue_max=config.traces.queue_max,
    )
    return Runtime(config, store, providers, router, authenticator, keys, traces)


def create_app(runtime: Runtime) -> GatewayApp:
    """The gateway with the admin API mounted behind it; start-up and shutdown run the runtime's hooks."""
    config = runtime.config
    metrics = Metrics()
    metrics.gauge("pilothouse_trace_queue_pending", lambda: runtime.traces.pending)
    metrics.gauge("pilothouse_trace_records_dropped", lambda: runtime.traces.dropped)
    deps = GatewayDeps(
        authenticator=runtime.authenticator,
        router=runtime.router,
        traces=FanoutSink([runtime.traces, MetricsSink(metrics)]),
        metrics=metrics,
        store_payloads=config.storage.store_payloads,
        config_hash=config.fingerprint(),
        max_body_bytes=config.server.max_body_bytes,
        drain_seconds=config.server.drain_seconds,
    )
    return GatewayApp(
        deps,
        # A replayed answer is neither limited, cached again nor billed: idempotency goes first.
        stages=[
            AccessControl(),
            Idempotency(MemoryIdempotencyStore()),
            Accounting({m.name: m for m in config.models}),
        ],
        fallback=create_admin_app(
            authenticator=runtime.authenticator, keys=runtime.keys, traces=runtime.store
        ),
        on_startup=[runtime.start],
        on_shutdown=[runtime.stop],
    )
