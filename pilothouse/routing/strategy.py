"""The order in which a route tries its deployments."""

from __future__ import annotations

import random
from collections.abc import Sequence

from pilothouse.core.traffic import RouteConfig
from pilothouse.routing.route import Deployment, Route

EWMA_ALPHA = 0.3  # weight of the newest sample: reacts within a few requests, smooths single spikes


class LatencyTracker:
    """Exponentially weighted moving average of each deployment's latency (seconds), in process."""

    def __init__(self) -> None:
        self._ewma: dict[str, float] = {}

    def observe(self, deployment: str, seconds: float) -> None:
        old = self._ewma.get(deployment)
        self._ewma[deployment] = seconds if old is None else EWMA_ALPHA * seconds + (1 - EWMA_ALPHA) * old

    def get(self, deployment: str) -> float | None:
        return self._ewma.get(deployment)


def _weighted_order(deployments: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    """A random permutation where heavier deployments tend to come first (weighted sampling)."""
    # Efraimidis-Spirakis: sort by u^(1/w), one draw per deployment.
    return sorted(deployments, key=lambda d: rng.random() ** (1.0 / d.model.weight), reverse=True)


def _unit_price(dep: Deployment, prompt_tokens: int, output_tokens: int) -> float:
    return float(dep.model.input_price) * prompt_tokens + float(dep.model.output_price) * output_tokens


def order(
    route: Route,
    *,
    latency: LatencyTracker,
    rng: random.Random,
    prompt_tokens: int,
    output_tokens: int,
) -> list[Deployment]:
    """Primary deployments in strategy order, then the fallback chain (each deployment once)."""
    config: RouteConfig = route.config
    primaries = list(route.deployments)
    if config.strategy == "weighted":
        primaries = _weighted_order(primaries, rng)
    elif config.strategy == "latency":
        # Unmeasured deployments first, so each gets measured; then fastest first.
        primaries.sort(key=lambda d: latency.get(d.name) or 0.0)
    elif config.strategy == "cost":
        primaries.sort(key=lambda d: _unit_price(d, prompt_tokens, max(output_tokens, 1)))
    elif config.strategy == "cascade":
        primaries.sort(key=lambda d: (d.model.tier, _unit_price(d, prompt_tokens, max(output_tokens, 1))))
    seen = {d.name for d in primaries}
    return primaries + [d for d in route.fallbacks if d.name not in seen]
