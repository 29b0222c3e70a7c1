"""Load drivers: the Python load generator and wrk, per target and cell, and stored-trace counts."""

from __future__ import annotations

import argparse
import contextlib
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from harness import BENCH, Meter, Pinning, Service, cpu_seconds


@dataclass
class Target:
    name: str
    label: str
    url: str
    key: str
    service: Service | None  # None: the mock itself (direct)
    expect_header: str | None = None
    traced_requests: int = 0  # requests sent that should each leave a trace (gateway only)


@dataclass
class Cell:
    """One target, mode and concurrency: every repeat's load-generator result."""

    target: str
    mode: str
    concurrency: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def med(self, getter: Callable[[dict[str, Any]], float | None]) -> float | None:
        values = [v for v in (getter(r) for r in self.runs) if v is not None]
        return statistics.median(values) if values else None

    def spread(self, key: str) -> tuple[float, float] | None:
        values = [float(r[key]) for r in self.runs if r.get(key) is not None]
        return (min(values), max(values)) if values else None

    def errors(self) -> int:
        return sum(sum(r.get("errors", {}).values()) for r in self.runs)

    def first_error(self) -> str:
        return next((r["first_error"] for r in self.runs if r.get("first_error")), "")


def run_loadgen(
    target: Target, mode: str, concurrency: int, args: argparse.Namespace, pin: Pinning
) -> dict[str, Any]:
    argv = [
        *pin.prefix("load"), sys.executable, str(BENCH / "loadgen.py"),
        "--url", target.url, "-c", str(concurrency), "-d", str(args.duration), "--warmup", str(args.warmup),
        "--max-requests", str(args.max_requests), "--key", target.key, "--timeout", "60",
    ]  # fmt: skip
    if mode == "stream":
        argv.append("--stream")
    if target.expect_header:
        argv += ["--expect-header", target.expect_header]
    cpu_before = cpu_seconds(target.service.pid) if target.service else 0.0
    meter = Meter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + args.warmup + 120)
    cpu_used = (cpu_seconds(target.service.pid) - cpu_before) if target.service else 0.0
    foreign = meter.foreign_cores()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    sent = int(result["sent"])
    target.traced_requests += sent
    result["server_cpu_s"] = round(cpu_used, 3)
    result["foreign_cores"] = foreign
    result["cpu_us_per_req"] = round(cpu_used / sent * 1e6, 1) if target.service and sent else None
    return result


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str | None) -> float | None:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", (text or "").strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def write_wrk_script(path: Path, key: str, stream: bool) -> None:
    body = {
        "model": "bench-model",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Say hello to the benchmark."},
        ],
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
    lua = (
        'wrk.method = "POST"\n'
        f"wrk.body = '{orjson.dumps(body).decode()}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    path.write_text(lua)


def run_wrk(
    wrk: str,
    target: Target,
    mode: str,
    concurrency: int,
    args: argparse.Namespace,
    pin: Pinning,
    workdir: Path,
) -> dict[str, Any]:
    script = workdir / f"wrk-{target.name}-{mode}.lua"
    write_wrk_script(script, target.key, mode == "stream")
    argv = [
        *pin.prefix("load"), wrk, "-t1", f"-c{concurrency}", f"-d{args.wrk_duration}s", "--latency",
        "--timeout", "20s", "-s", str(script), target.url,
    ]  # fmt: skip
    cpu_before = cpu_seconds(target.service.pid) if target.service else 0.0
    meter = Meter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.wrk_duration + 60)
    cpu_used = (cpu_seconds(target.service.pid) - cpu_before) if target.service else 0.0
    foreign = meter.foreign_cores()
    out = proc.stdout
    if proc.returncode != 0 or "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-1500:]} {proc.stderr[-1500:]}")
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    completed = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    target.traced_requests += completed
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "latency_ms": {"p50": _ms(pct.get("50")), "p99": _ms(pct.get("99"))},
        "output": out if pct.get("50") is None else "",
        "foreign_cores": foreign,
        "completed": completed,
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0),
        "cpu_us_per_req": round(cpu_used / completed * 1e6, 1) if target.service and completed else None,
    }


def count_traces(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return int(conn.execute("SELECT count(*) FROM traces").fetchone()[0])


def settled_trace_count(db: Path, timeout: float = 15.0) -> int:
    """The trace count once it stops growing (the writer flushes every 100 ms)."""
    last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = count_traces(db)
        if n != last:
            last, stable_since = n, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.2)
    return last
