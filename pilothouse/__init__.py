"""Pilothouse: the production layer around large language models."""

__version__ = "0.1.0"
