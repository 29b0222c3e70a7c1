"""Routing: public model names to deployments, and the provider call with its deadline and spans.

Later strategies (weighted, latency, cost, cascade), retries, fallbacks and circuit breakers live here.
"""

from pilothouse.routing.router import Deployment, Router

__all__ = ["Deployment", "Router"]
