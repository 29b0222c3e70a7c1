"""Scorers: built-ins and plugins in one registry (see ``registry``)."""

from pilothouse.evals.scorers.registry import ScorerDef, as_score, builtin_names, resolve_scorer, scorer

__all__ = ["ScorerDef", "as_score", "builtin_names", "resolve_scorer", "scorer"]
