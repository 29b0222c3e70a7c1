"""``pilothouse drill``: an outage drill against a route. Every deployment of the route is replaced by
the ``fake`` provider (no upstream is called, nothing is spent), the primary gets the scenario's
fault, and a burst of real requests through a real gateway shows whether fallbacks, retries and
circuit breakers behaved."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.table import Table

from pilothouse.cli.common import ConfigOption, console, fail, resolve_config
from pilothouse.cli.serve import build_server
from pilothouse.core.config import Config, ModelConfig, ProviderConfig, ServerConfig, StorageConfig
from pilothouse.core.records import TraceRecord

# The primary deployment's behaviour in each scenario (fake provider options).
SCENARIOS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "down": {"fault": "http_503"},
    "slow": {"latency_ms": 2000},
    "rate_limited": {"fault": "http_429", "retry_after": 1},
    "flapping": {"fault": "http_503", "fault_rate": 0.5, "seed": 7},
}
REPLY = "Drill answer: the route is serving."


@dataclass
class Outcome:
    scenario: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    skipped_open: int = 0

    @property
    def success_rate(self) -> float:
        total = sum(self.statuses.values())
        return self.statuses[200] / total if total else 0.0

    def p(self, q: float) -> float:
        """The q-th percentile latency in seconds (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def drill_config(config: Config, route_name: str, scenario: str, db: Path) -> Config:
    """The route's deployments on fake providers, the primary with the scenario's fault."""
    route = config.route(route_name)
    names = [*route.deployments, *route.fallbacks] if route else [route_name]
    if route is None and config.model(route_name) is None:
        fail(f"no route or model named {route_name!r}")
    providers: dict[str, ProviderConfig] = {}
    models: list[ModelConfig] = []
    for i, name in enumerate(dict.fromkeys(names)):
        model = config.model(name)
        assert model is not None  # config validation guarantees route members exist
        options = {"reply": REPLY, **(SCENARIOS[scenario] if i == 0 else {})}
        providers[f"drill-{name}"] = ProviderConfig(type="fake", **options)
        models.append(model.model_copy(update={"provider": f"drill-{name}", "limits": None}))
    return config.model_copy(
        update={
            "providers": providers,
            "models": models,
            "routes": [route] if route else [],
            "keys": [],
            "budgets": [],
            "redis": None,
            "limits": config.limits.model_copy(update={"keys": {}, "teams": {}, "key_default": None}),
            "storage": StorageConfig(url=f"sqlite:///{db}"),
            "server": ServerConfig(port=0),
        }
    )


async def _run(config: Config, route: str, scenario: str, requests: int, concurrency: int) -> Outcome:
    server, runtime = build_server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise typer.Exit(1)
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    outcome = Outcome(scenario)
    try:
        key, _ = await runtime.keys.create("drill")
        ids = await _burst(f"http://127.0.0.1:{port}", key, route, requests, concurrency, outcome)
        await runtime.traces.flush()
        for trace_id in ids:
            record = await runtime.store.get_trace(trace_id)
            if record is not None:
                _tally(record, outcome)
    finally:
        server.should_exit = True
        await serving
    return outcome


async def _burst(
    base: str, key: str, route: str, requests: int, concurrency: int, outcome: Outcome
) -> list[str]:
    body = {"model": route, "messages": [{"role": "user", "content": "drill"}], "stream": True}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    ids: list[str] = []
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"}) as http:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                start = time.perf_counter()
                async with http.post(base + "/v1/chat/completions", json=body) as r:
                    raw = await r.read()
                    ok = r.status == 200 and raw.rstrip().endswith(b"[DONE]")
                    outcome.statuses[200 if ok else (r.status if r.status != 200 else 599)] += 1
                    outcome.latencies.append(time.perf_counter() - start)
                    ids.append(r.headers["x-pilothouse-trace-id"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def _tally(record: TraceRecord, outcome: Outcome) -> None:
    if record.served_model:
        outcome.served[record.served_model] += 1
    for span in record.spans:
        if span.name == "provider.attempt":
            outcome.attempts += 1
        elif (
            span.name == "provider.skipped"
            and span.attributes.get("pilothouse.skip_reason") == "circuit_open"
        ):
            outcome.skipped_open += 1


def _checks(
    outcome: Outcome, baseline: Outcome, config: Config, min_success: float, requests: int
) -> list[str]:
    problems = []
    if outcome.success_rate < min_success:
        problems.append(f"success rate {outcome.success_rate:.1%} < {min_success:.0%}")
    threshold = config.circuit_breaker.consecutive_failures
    if outcome.scenario == "down" and requests > 2 * threshold and not outcome.skipped_open:
        problems.append("the primary stayed in rotation: its circuit never opened")
    return problems


def drill(
    route: Annotated[str, typer.Argument(help="route (or model) name from the config")],
    scenario: Annotated[list[str] | None, typer.Option("--scenario", help="repeatable; default: all")] = None,
    requests: Annotated[int, typer.Option(min=1, max=10_000)] = 60,
    concurrency: Annotated[int, typer.Option(min=1, max=256)] = 8,
    min_success: Annotated[
        float, typer.Option(min=0, max=1, help="success rate each scenario must reach")
    ] = 0.99,
    config: ConfigOption = None,
) -> None:
    """Run outage scenarios (down, slow, rate_limited, flapping) against a route and report."""
    cfg = resolve_config(config)
    chosen = ["baseline", *[s for s in (scenario or list(SCENARIOS)) if s != "baseline"]]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        fail(f"unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    results: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="pilothouse-drill-") as tmp:
        for name in chosen:
            drill_cfg = drill_config(cfg, route, name, Path(tmp) / f"{name}.db")
            console.print(
                f"scenario [bold]{name}[/]: {requests} streamed requests, concurrency {concurrency}"
            )
            results.append(asyncio.run(_run(drill_cfg, route, name, requests, concurrency)))
    baseline = results[0]
    table = Table(
        "scenario",
        "success",
        "p50 ms",
        "p95 ms",
        "added p50 ms",
        "attempts/req",
        "circuit skips",
        "served by",
        "verdict",
    )
    failed = False
    for outcome in results:
        problems = _checks(outcome, baseline, cfg, min_success, requests)
        failed = failed or bool(problems)
        served = ", ".join(f"{k} {v}" for k, v in outcome.served.most_common())
        table.add_row(
            outcome.scenario,
            f"{outcome.success_rate:.1%}",
            f"{outcome.p(50) * 1000:.1f}",
            f"{outcome.p(95) * 1000:.1f}",
            f"{(outcome.p(50) - baseline.p(50)) * 1000:+.1f}",
            f"{outcome.attempts / max(1, sum(outcome.statuses.values())):.2f}",
            str(outcome.skipped_open),
            served,
            "[green]ok[/]" if not problems else "[red]" + "; ".join(problems) + "[/]",
        )
    console.print(table)
    if failed:
        raise typer.Exit(1)
