"""Routes: a public model name and the deployments that serve it."""

from __future__ import annotations

from dataclasses import dataclass, field

from pilothouse.core.config import ModelConfig
from pilothouse.core.ports import Provider
from pilothouse.core.traffic import RouteConfig


@dataclass(frozen=True, slots=True)
class Deployment:
    """One model behind one provider, with its prices, limits and deadline."""

    model: ModelConfig
    provider: Provider
    timeout: float

    @property
    def name(self) -> str:
        return self.model.name


@dataclass(frozen=True, slots=True)
class Route:
    """A public name: its primary deployments (picked by the strategy) and ordered fallbacks."""

    name: str
    config: RouteConfig
    deployments: tuple[Deployment, ...]
    fallbacks: tuple[Deployment, ...] = field(default=())

    def all_deployments(self) -> tuple[Deployment, ...]:
        return self.deployments + tuple(d for d in self.fallbacks if d not in self.deployments)


def implicit_route(dep: Deployment) -> Route:
    """A bare model name is a route of one deployment: no fallbacks, retries on transient errors."""
    return Route(name=dep.name, config=RouteConfig(name=dep.name, deployments=[dep.name]), deployments=(dep,))
