"""Composition root: config -> concrete objects -> the wired ASGI application."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from pilothouse.cache import ResponseCache, build_response_cache
from pilothouse.core.config import Config
from pilothouse.core.errors import ConfigError
from pilothouse.core.ports import DeploymentGate, Provider
from pilothouse.core.traffic import RedisConfig
from pilothouse.gateway.app import GatewayApp
from pilothouse.gateway.deps import GatewayDeps
from pilothouse.gateway.idempotency import Idempotency, MemoryIdempotencyStore, RedisIdempotencyStore
from pilothouse.gateway.pipeline import Stage
from pilothouse.gateway.stages import AccessControl, Accounting
from pilothouse.gateway.stages_cache import ResponseCaching, RouterEmbedder
from pilothouse.gateway.stages_guard import InputGuards
from pilothouse.gateway.stages_guard_output import OutputGuards
from pilothouse.gateway.stages_limits import Admission
from pilothouse.gateway.stages_prompts import PromptResolution
from pilothouse.guard.agent import SessionLimiter, SessionStoreFactory
from pilothouse.guard.agent_redis import RedisSessionLimiter
from pilothouse.guard.killswitch import KillSwitchSync
from pilothouse.guard.policy import GuardBook
from pilothouse.guard.storage import PayloadRedactor
from pilothouse.keys import KeyAuthenticator, KeyService
from pilothouse.limits import Limits, build_limits
from pilothouse.prompts import PromptRegistry, PromptResolver
from pilothouse.providers import build_provider
from pilothouse.routing import Deployment, Route, Router
from pilothouse.routing.breaker import BreakerBoard, LocalBreakerBoard
from pilothouse.routing.redis_breaker import RedisBreakerBoard
from pilothouse.store import Store, open_store
from pilothouse.traces import BatchTraceWriter
from pilothouse.traces.metrics import FanoutSink, Metrics, MetricsSink
from pilothouse.web.admin import create_admin_app

log = logging.getLogger("pilothouse")


@dataclass
class Runtime:
    """Everything one gateway process runs on."""

    config: Config
    store: Store
    providers: dict[str, Provider]
    router: Router
    authenticator: KeyAuthenticator
    keys: KeyService
    traces: BatchTraceWriter
    redis: Redis | None = None  # shared state across replicas (limits, budgets, cache), when configured
    cache: ResponseCache | None = None
    limits: Limits | None = None
    prompts: PromptResolver | None = None  # prompt references, resolved from memory
    registry: PromptRegistry | None = None  # prompt changes made in this process (admin API, tools)
    guard: GuardBook | None = None  # compiled guard policies and the kill switch
    kill_switch: KillSwitchSync | None = None  # run-time switches, kept in the store

    async def start(self) -> None:
        await self.store.connect()  # a PostgreSQL pool belongs to the loop that serves
        if self.prompts is not None:
            await self.prompts.start()  # loads labels before the first request; then polls for changes
        self.traces.start()
        if self.limits is not None:
            await self.limits.start()  # seeds budgets from the store: after connect
        for spec in self.config.keys:
            await self.keys.ensure(spec)
        if self.kill_switch is not None:
            await self.kill_switch.start()  # switches set at run time survive restarts

    async def stop(self) -> None:
        if self.kill_switch is not None:
            await self.kill_switch.aclose()
        if self.prompts is not None:
            await self.prompts.aclose()
        await self.traces.stop()
        if self.cache is not None:
            await self.cache.drain()
        if self.limits is not None:
            await self.limits.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        await self.store.aclose()


def build_router(
    config: Config,
    providers: dict[str, Provider],
    gate: DeploymentGate | None = None,
    redis: Redis | None = None,
) -> Router:
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
    breakers: BreakerBoard = (
        RedisBreakerBoard(redis, config.circuit_breaker, config.redis.key_prefix)
        if redis is not None and config.redis is not None
        else LocalBreakerBoard(config.circuit_breaker)
    )
    return Router(deployments, routes, breakers=breakers, gate=gate)


def connect_redis(config: RedisConfig) -> Redis:
    """Short socket timeouts and one quick retry: a stalled Redis must cost a request a bounded
    delay (then limits fail open and the cache misses), never the redis-py defaults' seconds."""
    return Redis.from_url(
        config.url,
        socket_timeout=config.timeout_seconds,
        socket_connect_timeout=config.timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
    )


def build_prompt_registry(store: Store, resolver: PromptResolver | None = None) -> PromptRegistry:
    """The registry over the store. The release gate's evidence is the store's record of gated eval
    runs that passed; a resolver in the same process hears of every change at once."""
    return PromptRegistry(store, store, on_change=resolver.refresh if resolver is not None else None)


def build_runtime(config: Config) -> Runtime:
    """Build every object from config. Raises ConfigError (with the key path) on bad settings."""
    providers = {name: build_provider(name, spec) for name, spec in config.providers.items()}
    store = open_store(config.storage.url)
    redis = connect_redis(config.redis) if config.redis is not None else None
    limits = build_limits(config, redis, store)
    router = build_router(config, providers, limits.gate, redis)
    authenticator = KeyAuthenticator(store, admin_key=config.admin_key)
    keys = KeyService(store, authenticator)
    traces = BatchTraceWriter(
        store,
        batch_size=config.traces.batch_size,
        flush_interval=config.traces.flush_interval_ms / 1000.0,
        queue_max=config.traces.queue_max,
    )
    cache = build_response_cache(
        config, redis=redis, embedder_for=lambda model: RouterEmbedder(router, model)
    )
    prompts = PromptResolver(store)
    sessions: SessionStoreFactory = SessionLimiter
    if redis is not None and config.redis is not None:
        prefix = config.redis.key_prefix
        sessions = partial(RedisSessionLimiter, client=redis, prefix=prefix)
    try:
        guard = GuardBook(config.guard, sessions=sessions)
    except ValueError as exc:  # a policy that does not compile (a bad regex, an unknown entity)
        raise ConfigError(str(exc), path="guard.policies") from None
    return Runtime(
        config,
        store,
        providers,
        router,
        authenticator,
        keys,
        traces,
        redis=redis,
        cache=cache,
        limits=limits,
        prompts=prompts,
        registry=build_prompt_registry(store, prompts),
        guard=guard,
        kill_switch=KillSwitchSync(guard, store),
    )


def create_app(runtime: Runtime) -> GatewayApp:
    """The gateway with the admin API mounted behind it; start-up and shutdown run the runtime's hooks."""
    config = runtime.config
    metrics = Metrics()
    metrics.gauge("pilothouse_trace_queue_pending", lambda: runtime.traces.pending)
    metrics.gauge("pilothouse_trace_records_dropped", lambda: runtime.traces.dropped)
    limits = runtime.limits
    if limits is not None:
        limits.register_metrics(metrics.gauge)
    deps = GatewayDeps(
        authenticator=runtime.authenticator,
        router=runtime.router,
        traces=FanoutSink([runtime.traces, MetricsSink(metrics)]),
        metrics=metrics,
        store_payloads=config.storage.store_payloads,
        config_hash=config.fingerprint(),
        max_body_bytes=config.server.max_body_bytes,
        drain_seconds=config.server.drain_seconds,
        prompts=runtime.prompts,
        redact_payloads=PayloadRedactor(),
    )
    idempotency_store = (
        RedisIdempotencyStore(runtime.redis, config.redis.key_prefix)
        if runtime.redis is not None and config.redis is not None
        else MemoryIdempotencyStore()
    )
    # A replayed answer is neither limited, cached again nor billed: idempotency goes first.
    # Prompts render after access control (which already checked the route the prompt's model picked),
    # so limits, cache and accounting see the rendered request; but after idempotency, which must bind
    # a key to what the client sent: a retry replays its first answer even if a label moved meanwhile.
    stages: list[Stage] = [AccessControl(), Idempotency(idempotency_store), PromptResolution()]
    book = runtime.guard or GuardBook(config.guard)
    # Before admission: a blocked request is neither counted nor billed, and a redacted one is what
    # the cache keys on and the provider sees. Always there: the kill switch can be flipped at run time.
    stages.append(InputGuards(book, runtime.router))
    if runtime.limits is not None and runtime.limits.control is not None:
        stages.append(Admission(runtime.limits.control))  # outside Accounting: settles with its cost
    if runtime.cache is not None:
        # Outside Accounting: a hit costs nothing; a miss is stored with the cost Accounting put on the trace.
        stages.append(ResponseCaching(runtime.cache))
    # Inside the cache (cached answers were judged once), outside accounting (a repair retry is priced).
    # Always there: a key may carry a tool allow-list whatever the policies say.
    stages.append(OutputGuards(book))
    stages.append(Accounting({m.name: m for m in config.models}))
    return GatewayApp(
        deps,
        stages=stages,
        fallback=create_admin_app(
            authenticator=runtime.authenticator,
            keys=runtime.keys,
            traces=runtime.store,
            kill=runtime.kill_switch,
        ),
        on_startup=[runtime.start],
        on_shutdown=[runtime.stop],
        shedder=limits.shedder if limits is not None else None,
    )
