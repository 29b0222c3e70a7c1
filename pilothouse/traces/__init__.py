"""Traces: the per-request builder and the background batch writer."""

from pilothouse.traces.builder import TraceBuilder
from pilothouse.traces.writer import BatchTraceWriter

__all__ = ["BatchTraceWriter", "TraceBuilder"]
