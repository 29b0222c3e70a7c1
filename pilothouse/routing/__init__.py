"""Routing: public model names to deployments, and the provider call with its deadline and spans.

Later strategies (weighted, latency, cost, cascade), retries, fallbacks and circuit breakers live here.
"""

from pilothouse.routing.route import Deployment, Route, implicit_route
from pilothouse.routing.router import Router

__all__ = ["Deployment", "Route", "Router", "implicit_route"]
