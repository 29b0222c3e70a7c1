"""Prometheus metrics derived from finished traces: a trace sink, so the request path only hands
over the record it already built. Rendered in the Prometheus text exposition format."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable

from pilothouse.core.ports import TraceSink
from pilothouse.core.records import TraceRecord

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]
INF = 'le="+Inf"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS, value)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.sum += value


class Metrics:
    """Counters and histograms keyed by label tuples; ``observe`` is a few dictionary updates."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self.histograms: dict[str, dict[Labels, _Histogram]] = defaultdict(lambda: defaultdict(_Histogram))
        self.gauges: dict[str, Callable[[], float]] = {}

    def observe(self, r: TraceRecord) -> None:
        model = r.route or r.requested_model or ""
        base = (("endpoint", r.endpoint), ("model", model))
        c = self.counters
        c["pilothouse_requests_total"][(*base, ("status", str(r.http_status)))] += 1
        if r.error_code:
            c["pilothouse_errors_total"][(*base, ("code", r.error_code))] += 1
        self.histograms["pilothouse_request_duration_seconds"][base].observe(r.latency_ms / 1000.0)
        if r.ttft_ms is not None:
            self.histograms["pilothouse_time_to_first_token_seconds"][base].observe(r.ttft_ms / 1000.0)
        served = (("model", model), ("deployment", r.served_model or ""))
        if r.prompt_tokens:
            c["pilothouse_tokens_total"][(*served, ("type", "input"))] += r.prompt_tokens
        if r.completion_tokens:
            c["pilothouse_tokens_total"][(*served, ("type", "output"))] += r.completion_tokens
        if r.cost_usd:
            c["pilothouse_cost_usd_total"][(*served, ("team", r.team_id or ""))] += float(r.cost_usd)
        if r.cache is not None:
            c["pilothouse_cache_requests_total"][(("model", model), ("result", r.cache))] += 1
            if r.cost_saved_usd:
                c["pilothouse_cache_saved_usd_total"][(("model", model),)] += float(r.cost_saved_usd)
        for flag in r.flags:
            c["pilothouse_flags_total"][(("model", model), ("flag", flag))] += 1
        for event in r.attributes.get("pilothouse.guard.events") or ():
            labels = (
                ("model", model),
                ("guard", str(event.get("guard"))),
                ("action", str(event.get("action"))),
            )
            for entity, count in (event.get("entities") or {}).items():
                c["pilothouse_guard_findings_total"][(*labels, ("entity", str(entity)))] += count
        for span in r.spans:
            if span.name == "provider.attempt":
                deployment = str(span.attributes.get("pilothouse.deployment", ""))
                key = (("deployment", deployment), ("status", span.status))
                c["pilothouse_provider_attempts_total"][key] += 1

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self.gauges[name] = read

    def render(self) -> str:
        lines: list[str] = []
        for name, series in sorted(self.counters.items()):
            lines.append(f"# TYPE {name} counter")
            lines += [f"{name}{_labels(labels)} {value:g}" for labels, value in series.items()]
        for name, hists in sorted(self.histograms.items()):
            lines.append(f"# TYPE {name} histogram")
            for labels, h in hists.items():
                cumulative = 0
                for bound, count in zip(LATENCY_BUCKETS, h.buckets, strict=True):
                    cumulative += count
                    le = 'le="' + format(bound, "g") + '"'
                    lines.append(f"{name}_bucket{_labels(labels, le)} {cumulative}")
                lines.append(f"{name}_bucket{_labels(labels, INF)} {h.count}")
                lines.append(f"{name}_sum{_labels(labels)} {h.sum:g}")
                lines.append(f"{name}_count{_labels(labels)} {h.count}")
        for name, read in sorted(self.gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {read():g}")
        return "\n".join(lines) + "\n"


class FanoutSink:
    """Hands each finished trace to several sinks (the batch writer, metrics, later OTLP)."""

    def __init__(self, sinks: Iterable[TraceSink]) -> None:
        self._sinks = tuple(sinks)

    def submit(self, record: TraceRecord) -> None:
        for sink in self._sinks:
            sink.submit(record)


class MetricsSink:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def submit(self, record: TraceRecord) -> None:
        self._metrics.observe(record)
