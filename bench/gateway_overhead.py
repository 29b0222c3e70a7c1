"""What the gateway adds: latency, time to first token, throughput and memory, against the upstream direct.

One run starts a fast mock OpenAI upstream (``bench/mock_upstream.py``), the Pilothouse gateway with
one uvicorn worker (``pilothouse serve``; key auth and trace recording on), and, with ``--litellm``,
LiteLLM's proxy with one worker and no database, all on loopback. A load generator in its own process
(``bench/loadgen.py``, aiohttp, closed loop) drives each target at each concurrency, non-streaming and
streaming, the targets interleaved within each cell; medians of ``--repeats`` short runs are kept.
With ``wrk`` installed it also takes throughput at saturation with a C client. Then it profiles the
gateway under load with py-spy, checks that the gateway stored one trace per request, and writes
``bench/RESULTS.md`` (a section after the notes marker is kept across runs).

Processes are pinned with ``taskset`` where available: the gateway (and LiteLLM) on core 0, the mock,
the load generator, wrk and py-spy on core 1.

Run: ``.venv/bin/python bench/gateway_overhead.py [--litellm /tmp/litellm-venv/bin/litellm]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
NOTES_MARKER = "<!-- notes: everything below this line is kept when the script rewrites the file -->"
GATEWAY_KEY = "ph-bench-secret-key-0123456789"
LITELLM_KEY = "sk-litellm-bench-0123456789"
TRACE_HEADER = "x-pilothouse-trace-id"
MODES = ("nonstream", "stream")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------------
# processes and /proc


def child_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, ()))
    return out


def _status_kib(pid: int, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pid: int) -> float:
    """Resident memory of the process tree, MiB."""
    return sum(_status_kib(p, "VmRSS") for p in child_pids(pid)) / 1024.0


def peak_rss_mib(pid: int) -> float:
    return sum(_status_kib(p, "VmHWM") for p in child_pids(pid)) / 1024.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree (all threads), seconds."""
    total = 0
    for p in child_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def system_busy_seconds() -> float:
    """CPU time the whole machine spent busy in processes (all cores), plus time stolen by the host.

    From the first line of /proc/stat; interrupt and softirq time (loopback TCP, mostly ours) is left
    out, since it is charged to no process.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
    return (user + nice + system + steal) / CLK_TCK


def own_cpu_seconds() -> float:
    """CPU time of this run: its services, this process and its waited-for children (loadgen, wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    services = sum(cpu_seconds(s.pid) for s in Service.started if s.alive())
    return services + own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Meter:
    """How many cores other work on the machine kept busy during one measurement (the noise)."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._busy = system_busy_seconds()
        self._ours = own_cpu_seconds()

    def foreign_cores(self) -> float:
        wall = time.monotonic() - self._wall
        foreign = (system_busy_seconds() - self._busy) - (own_cpu_seconds() - self._ours)
        return round(max(0.0, foreign / wall), 2) if wall > 0 else 0.0


class QuietGate:
    """Before each run, wait (within a budget for the whole run) while other work keeps the machine busy."""

    def __init__(self, threshold: float, budget: float) -> None:
        self.threshold = threshold
        self.budget = budget
        self.waited = 0.0

    def wait(self) -> None:
        while self.waited < self.budget:
            meter = Meter()
            time.sleep(0.5)
            if meter.foreign_cores() <= self.threshold:
                return
            self.waited += 0.5


@dataclass
class Pinning:
    enabled: bool
    server_core: int = 0
    load_core: int = 1

    def prefix(self, role: str) -> list[str]:
        if not self.enabled:
            return []
        return ["taskset", "-c", str(self.server_core if role == "server" else self.load_core)]

    def describe(self) -> str:
        if not self.enabled:
            return "not pinned (taskset missing, fewer than 2 cores, or --no-pin)"
        return (
            f"`taskset`: gateway and LiteLLM on core {self.server_core}; mock upstream, load generator, "
            f"wrk and py-spy on core {self.load_core}"
        )


class Service:
    """A background process with its output in a log file."""

    started: list[Service] = []  # every service of this run, for the CPU meter

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        Service.started.append(self)
        self.name = name
        self.argv = argv
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful: the gateway drains and flushes traces), SIGKILL after ``timeout``."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_http(url: str, service: Service, timeout: float, headers: dict[str, str] | None = None) -> float:
    """Poll ``url`` until it answers 2xx; seconds waited. Raises if the service dies or times out."""
    start = time.monotonic()
    while True:
        if not service.alive():
            raise RuntimeError(f"{service.name} exited ({service.proc.returncode}):\n{service.tail()}")
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{service.name} not ready after {timeout:.0f}s:\n{service.tail()}")
        time.sleep(0.2)


def post_json(url: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


# --------------------------------------------------------------------------------------------------
# targets and measurements


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


# --------------------------------------------------------------------------------------------------
# profiling


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

CATEGORIES: list[tuple[str, str]] = [
    ("aiohttp/", "aiohttp client (upstream calls)"),
    ("yarl/", "aiohttp client (upstream calls)"),
    ("multidict/", "aiohttp client (upstream calls)"),
    ("uvicorn/", "uvicorn server (HTTP in/out)"),
    ("h11/", "uvicorn server (HTTP in/out)"),
    ("pydantic", "pydantic (validation, records)"),
    ("sqlite3/", "SQLite (trace writes)"),
    ("asyncio/", "asyncio (tasks, timeouts, futures)"),
    ("uvloop", "event loop (uvloop run loop: I/O, syscalls)"),
    ("concurrent/", "threads (executor)"),
    ("threading.py", "threads (executor)"),
    ("contextlib.py", "contextlib (async context managers)"),
    ("weakrefset.py", "asyncio (tasks, timeouts, futures)"),
]


def split_frame(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame)
    return (m.group("func"), m.group("file")) if m else (frame, "")


def categorise(frame: str) -> str:
    func, file = split_frame(frame)
    if file.startswith("pilothouse/"):
        parts = file.split("/")
        return "pilothouse." + parts[1].removesuffix(".py")
    if func == "Runner.run" and file.startswith("asyncio/runners"):
        return "event loop (uvloop run loop: I/O, syscalls)"
    for needle, name in CATEGORIES:
        if needle in file:
            return name
    return "other (" + (file.split("/")[0] or func) + ")"


def _is_idle(frames: list[str]) -> bool:
    """Executor threads parked on their queue: py-spy does not always see them as idle."""
    func, file = split_frame(frames[-1])
    return (func == "_worker" and file.endswith("concurrent/futures/thread.py")) or (
        file.endswith("threading.py")
        and func in ("Condition.wait", "Event.wait", "Thread._wait_for_tstate_lock")
    )


def summarise_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Shares of CPU samples: by component (self time), top functions (self), pilothouse (inclusive)."""
    by_cat: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = background = 0
    for line in raw.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        if not stack or not n_text.isdigit():
            continue
        n = int(n_text)
        frames = stack.split(";")
        if _is_idle(frames):
            idle += n
            continue
        total += n
        if "threading.py" in frames[0]:
            background += n
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        by_leaf[leaf] += n
        by_cat[categorise(frames[-1])] += n
        seen: set[str] = set()
        for frame in frames:
            func, file = split_frame(frame)
            if file.startswith("pilothouse/") and not file.startswith("pilothouse/cli/"):
                key = f"{func} ({file})"
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += n

    def shares(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(k)] if total else []

    return {
        "samples": total,
        "idle_samples_dropped": idle,
        "background_threads": background / total if total else 0.0,
        "by_component": shares(by_cat, 30),
        "top_self": shares(by_leaf, top),
        "pilothouse_inclusive": shares(inclusive, top),
    }


def run_profile(
    pyspy: str, target: Target, mode: str, args: argparse.Namespace, pin: Pinning, workdir: Path
) -> dict[str, Any]:
    assert target.service is not None
    raw = workdir / f"profile-{mode}.txt"
    lg: dict[str, Any] = {}
    prof_args = argparse.Namespace(**vars(args))
    prof_args.duration = args.profile_seconds + 1.0
    prof_args.warmup = 0.5

    def load() -> None:
        lg.update(run_loadgen(target, mode, args.profile_concurrency, prof_args, pin))

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(0.7)
    argv = [
        *pin.prefix("load"), pyspy, "record", "-p", str(target.service.pid),
        "-d", str(int(args.profile_seconds)), "-r", str(args.profile_rate), "-f", "raw", "-o", str(raw),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.profile_seconds + 60)
    thread.join()
    if proc.returncode != 0 or not raw.exists():
        raise RuntimeError(f"py-spy failed ({proc.returncode}): {proc.stderr[-1500:]}")
    summary = summarise_profile(raw)
    summary["raw"] = str(raw)
    summary["load"] = {
        "rps": lg.get("rps"),
        "concurrency": args.profile_concurrency,
        "mode": mode,
        "cpu_us_per_req": lg.get("cpu_us_per_req"),
    }
    summary["command"] = shlex.join(argv)
    return summary


# --------------------------------------------------------------------------------------------------
# configs


def gateway_config(workdir: Path, gw_port: int, mock_port: int) -> Path:
    path = workdir / "pilothouse-bench.yaml"
    path.write_text(
        f"""server: {{host: 127.0.0.1, port: {gw_port}}}
storage: {{url: "sqlite:///{workdir}/bench.db"}}
admin_key: "admin-secret"
providers:
  mock: {{type: openai, base_url: "http://127.0.0.1:{mock_port}/v1", api_key: "x"}}
models:
  - {{name: bench-model, provider: mock, upstream: mock-model}}
keys:
  - {{name: bench, secret: "{GATEWAY_KEY}"}}
"""
    )
    return path


def litellm_config(workdir: Path, mock_port: int) -> Path:
    path = workdir / "litellm-bench.yaml"
    path.write_text(
        f"""model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/mock-model
      api_base: http://127.0.0.1:{mock_port}/v1
      api_key: x
general_settings:
  master_key: {LITELLM_KEY}
litellm_settings:
  drop_params: true
"""
    )
    return path


def litellm_version(binary: str) -> str:
    python = Path(binary).parent / "python"
    if not python.exists():
        return "?"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() or "?"


# --------------------------------------------------------------------------------------------------
# report


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def machine_info() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "-"

    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": ", ".join(
            f"{p} {version(p)}" for p in ("pilothouse", "uvicorn", "uvloop", "httptools", "aiohttp", "orjson")
        ),
    }


def median_of(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def noise(runs: Sequence[dict[str, Any]]) -> str:
    values = [float(r["foreign_cores"]) for r in runs if r.get("foreign_cores") is not None]
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({max(values):.2f})"


def code_version(pilothouse_cmd: str) -> str:
    """Which gateway code ran: the commit, uncommitted changes, and where ``pilothouse`` was imported from."""
    parts: list[str] = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(REPO)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "pilothouse"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if head:
            parts.append(f"commit {head}" + (" with uncommitted changes in pilothouse/" if dirty else ""))
    python = Path(pilothouse_cmd).parent / "python"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        interpreter = str(python if python.exists() else sys.executable)
        where = subprocess.run(
            [interpreter, "-c", "import pilothouse; print(pilothouse.__file__)"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
        if where:
            parts.append(f"package imported from `{Path(where).parent}`")
    return "; ".join(parts) or "?"


def added(gw: float | None, direct: float | None) -> float | None:
    return None if gw is None or direct is None else gw - direct


@dataclass
class Report:
    args: argparse.Namespace
    argv: list[str]
    started: dt.datetime
    pin: Pinning
    targets: list[Target]
    cells: dict[tuple[str, str, int], Cell]
    wrk: dict[tuple[str, str, int], list[dict[str, Any]]]
    memory: dict[str, dict[str, float]]
    traces: dict[str, Any]
    profiles: dict[str, dict[str, Any]]
    notes: list[str]
    litellm_version: str | None
    code: str = ""
    wall_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Everything the report is made of, so ``--render`` can remake it later."""
        return {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()},
            "argv": self.argv,
            "started": self.started.isoformat(),
            "pin": vars(self.pin),
            "targets": [{"name": t.name, "label": t.label} for t in self.targets],
            "cells": [vars(c) for c in self.cells.values()],
            "wrk": [
                {"target": k[0], "mode": k[1], "concurrency": k[2], "runs": v} for k, v in self.wrk.items()
            ],
            "memory": self.memory,
            "traces": self.traces,
            "profiles": self.profiles,
            "notes": self.notes,
            "litellm_version": self.litellm_version,
            "code": self.code,
            "wall_s": self.wall_s,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        cells = [Cell(c["target"], c["mode"], c["concurrency"], c["runs"]) for c in data["cells"]]
        return cls(
            args=argparse.Namespace(**data["args"]),
            argv=data["argv"],
            started=dt.datetime.fromisoformat(data["started"]),
            pin=Pinning(**data["pin"]),
            targets=[Target(t["name"], t["label"], "", "", None) for t in data["targets"]],
            cells={(c.target, c.mode, c.concurrency): c for c in cells},
            wrk={(w["target"], w["mode"], w["concurrency"]): w["runs"] for w in data["wrk"]},
            memory=data["memory"],
            traces=data["traces"],
            profiles=data["profiles"],
            notes=data["notes"],
            litellm_version=data["litellm_version"],
            code=data["code"],
            wall_s=data["wall_s"],
        )

    def cell(self, target: str, mode: str, c: int) -> Cell | None:
        return self.cells.get((target, mode, c))

    def saturation(self, target: str, mode: str) -> float | None:
        """Best throughput seen: the higher of wrk's medians and the load generator's medians at c > 1."""
        values: list[float] = []
        for (t, m, _c), runs in self.wrk.items():
            if t == target and m == mode and runs:
                values.append(statistics.median(r["rps"] for r in runs))
        for (t, m, c), cell in self.cells.items():
            if t == target and m == mode and c > 1:
                v = cell.med(lambda r: r["rps"])
                if v is not None:
                    values.append(v)
        return max(values) if values else None

    def render(self) -> str:
        a = self.args
        info = machine_info()
        names = [t.name for t in self.targets]
        label = {t.name: t.label for t in self.targets}
        lines: list[str] = [
            "# Gateway overhead: results",
            "",
            "Written by `bench/gateway_overhead.py`; how to run it is in `bench/README.md`.",
            "",
            f"- Date: {self.started.strftime('%Y-%m-%d %H:%M UTC')}; whole run {self.wall_s / 60:.1f} min",
            f"- Machine: {info['cpu']}; {info['os']}; Python {info['python']}",
            f"- Packages: {info['packages']}"
            + (f"; LiteLLM {self.litellm_version} (separate venv)" if self.litellm_version else ""),
            f"- Command: `{shlex.join(self.argv)}`",
            f"- Gateway code: {self.code}",
            f"- Pinning: {self.pin.describe()}",
            "- Load: closed loop, keep-alive, one aiohttp process (`bench/loadgen.py`); "
            f"{a.warmup:g} s warm-up then {a.duration:g} s measured per run; each figure is the median of "
            f"{a.repeats} runs, the targets interleaved within each cell. Latency is the whole answer as the "
            "client sees it; TTFT is the time to the first body bytes holding a `data:` event.",
            "- Mock upstream (`bench/mock_upstream.py`): answers at once; streams are "
            f"{a.chunks} content chunks {a.chunk_delay_ms:g} ms apart, a usage chunk and `[DONE]`.",
            "- Gateway: `pilothouse serve` (one uvicorn worker, uvloop, httptools), bearer-key auth and "
            "trace recording (SQLite, background batches) on.",
            "- Added = gateway (or LiteLLM) minus direct-to-mock at the same concurrency; at 16 and 64 "
            "connections it is mostly queueing on the one core, not per-request cost.",
            "- CPU/req = CPU time (user + system, all threads) of the server process during the cell, "
            "divided by the requests sent.",
            "- Other load = cores kept busy by processes outside this benchmark during the runs "
            "(median, max in brackets; from /proc/stat less our own processes' CPU): the noise from "
            "other work on this shared machine.",
            "",
        ]
        lines += self._verdicts()
        for mode in a.modes:
            lines += self._mode_table(mode, names, label)
        if self.wrk:
            lines += self._wrk_table(names, label)
        lines += self._memory_table(names, label)
        lines += self._trace_section()
        lines += self._profile_section()
        if self.notes:
            lines += ["## Run notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)

    def _verdicts(self) -> list[str]:
        out = ["## Against the targets", "", "| target | measured | met |", "| --- | --- | --- |"]
        gw = self.cell("pilothouse", "nonstream", 1)
        direct = self.cell("direct", "nonstream", 1)
        if gw and direct:
            add = added(
                gw.med(lambda r: r["latency_ms"]["p50"]), direct.med(lambda r: r["latency_ms"]["p50"])
            )
            ok = add is not None and add <= 1.0
            out.append(
                f"| added latency p50 <= 1 ms at concurrency 1 (auth + traces on) | {fmt(add, 3)} ms | "
                f"{'yes' if ok else 'NO'} |"
            )
        for mode in self.args.modes:
            mine = self.saturation("pilothouse", mode)
            theirs = self.saturation("litellm", mode)
            basis = "LiteLLM in this run"
            if theirs is None and mode == "nonstream":
                theirs, basis = 85.0, "LiteLLM's 85 req/s quoted in the issue (not run here)"
            if mine is None or not theirs:
                continue
            ratio = mine / theirs
            what = "requests/s" if mode == "nonstream" else "streams/s"
            out.append(
                f"| {mode} throughput at saturation (best cell) >= 20x LiteLLM | {fmt(mine, 0)} vs "
                f"{fmt(theirs, 0)} {what} ({basis}): {ratio:.1f}x | {'yes' if ratio >= 20 else 'NO'} |"
            )
        return [*out, ""]

    def _mode_table(self, mode: str, names: list[str], label: dict[str, str]) -> list[str]:
        stream = mode == "stream"
        title = "Streaming" if stream else "Non-streaming"
        head = "| conc. | target | req/s (min-max) | p50 ms | p99 ms | added p50 | added p99 |"
        sep = "| ---: | --- | --- | ---: | ---: | ---: | ---: |"
        if stream:
            head += " TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 |"
            sep += " ---: | ---: | ---: | ---: |"
        head += " CPU/req µs | errors | other load |"
        sep += " ---: | ---: | ---: |"
        out = [f"## {title} (load generator, medians of {self.args.repeats})", "", head, sep]
        for c in self.args.concurrency:
            base = self.cell("direct", mode, c)
            for name in names:
                cell = self.cell(name, mode, c)
                if cell is None:
                    continue

                def m(path: tuple[str, str], cell: Cell = cell) -> float | None:
                    return cell.med(lambda r: (r.get(path[0]) or {}).get(path[1]))

                def b(path: tuple[str, str], base: Cell | None = base) -> float | None:
                    return base.med(lambda r: (r.get(path[0]) or {}).get(path[1])) if base else None

                rps = cell.med(lambda r: r["rps"])
                spread = cell.spread("rps")
                rps_text = fmt(rps, 0) + (f" ({spread[0]:,.0f}-{spread[1]:,.0f})" if spread else "")
                p50, p99 = m(("latency_ms", "p50")), m(("latency_ms", "p99"))
                row = f"| {c} | {label[name]} | {rps_text} | {fmt(p50)} | {fmt(p99)} |"
                if name == "direct":
                    row += " - | - |"
                else:
                    row += (
                        f" {fmt(added(p50, b(('latency_ms', 'p50'))))} |"
                        f" {fmt(added(p99, b(('latency_ms', 'p99'))))} |"
                    )
                if stream:
                    t50, t99 = m(("ttft_ms", "p50")), m(("ttft_ms", "p99"))
                    row += f" {fmt(t50)} | {fmt(t99)} |"
                    if name == "direct":
                        row += " - | - |"
                    else:
                        row += (
                            f" {fmt(added(t50, b(('ttft_ms', 'p50'))))} |"
                            f" {fmt(added(t99, b(('ttft_ms', 'p99'))))} |"
                        )
                cpu = cell.med(lambda r: r.get("cpu_us_per_req"))
                row += f" {fmt(cpu, 0)} | {cell.errors()} | {noise(cell.runs)} |"
                out.append(row)
        errs = [
            f"{label[c.target]} {c.mode} c={c.concurrency}: {c.first_error()}"
            for c in self.cells.values()
            if c.mode == mode and c.errors()
        ]
        out.append("")
        if errs:
            out += ["First errors seen:", ""] + [f"- `{e}`" for e in errs] + [""]
        return out

    def _wrk_table(self, names: list[str], label: dict[str, str]) -> list[str]:
        out = [
            f"## Throughput at saturation (wrk, one thread, {self.args.wrk_duration:g} s, medians of "
            f"{self.args.repeats})",
            "",
            "wrk is a C client, so the direct figure is closer to the mock's own ceiling than the Python "
            "load generator's; wrk reads whole answers (no TTFT).",
            "",
            "| mode | conc. | target | req/s (min-max) | p50 ms | p99 ms | CPU/req µs | errors "
            "| other load |",
            "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for mode in self.args.modes:
            for c in self.args.wrk_concurrency:
                for name in names:
                    runs = self.wrk.get((name, mode, c))
                    if not runs:
                        continue
                    rps = statistics.median(r["rps"] for r in runs)
                    lo, hi = min(r["rps"] for r in runs), max(r["rps"] for r in runs)
                    p50 = median_of(r["latency_ms"]["p50"] for r in runs)
                    p99 = median_of(r["latency_ms"]["p99"] for r in runs)
                    cpus = [r["cpu_us_per_req"] for r in runs if r.get("cpu_us_per_req") is not None]
                    cpu = statistics.median(cpus) if cpus else None
                    errors = sum(r["errors"] for r in runs)
                    out.append(
                        f"| {mode} | {c} | {label[name]} | {rps:,.0f} ({lo:,.0f}-{hi:,.0f}) | {fmt(p50)} | "
                        f"{fmt(p99)} | {fmt(cpu, 0)} | {errors} | {noise(runs)} |"
                    )
        return [*out, ""]

    def _memory_table(self, names: list[str], label: dict[str, str]) -> list[str]:
        out = [
            "## Memory (RSS of the server process tree, from /proc)",
            "",
            "| target | idle MiB | after load MiB | peak (VmHWM) MiB |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name in names:
            mem = self.memory.get(name)
            if mem:
                out.append(
                    f"| {label[name]} | {fmt(mem.get('idle'), 1)} | {fmt(mem.get('after'), 1)} | "
                    f"{fmt(mem.get('peak'), 1)} |"
                )
        return [*out, ""]

    def _trace_section(self) -> list[str]:
        t = self.traces
        if not t:
            return []
        out = ["## Trace recording check", ""]
        if "after_loadgen" in t:
            ok = t["after_loadgen"] == t["expected_loadgen"]
            out.append(
                f"- After the load-generator cells: {t['after_loadgen']:,} rows in `traces` for "
                f"{t['expected_loadgen']:,} requests sent to the gateway: {'match' if ok else 'MISMATCH'}."
            )
        if "final" in t:
            out.append(
                f"- After the whole run and a graceful shutdown: {t['final']:,} rows for "
                f"{t['expected_final']:,} requests counted (wrk counts only completed requests, so up to "
                "one in flight per connection per wrk run may be recorded on top: "
                f"tolerance {t['tolerance']})."
            )
        if t.get("missing_header"):
            out.append(f"- Answers without `{TRACE_HEADER}`: {t['missing_header']}.")
        else:
            out.append(f"- Every gateway answer carried `{TRACE_HEADER}`.")
        return [*out, ""]

    def _profile_section(self) -> list[str]:
        if not self.profiles:
            return []
        out = ["## Where the gateway's time goes (py-spy)", ""]
        for mode, p in self.profiles.items():
            if "error" in p:
                out += [f"Profile of {mode} failed: `{p['error']}`", ""]
                continue
            load = p["load"]
            out += [
                f"### {mode} at concurrency {load['concurrency']} ({fmt(load['rps'], 0)} req/s under the "
                f"profiler; {p['samples']:,} CPU samples, {p['idle_samples_dropped']:,} idle executor "
                "samples dropped)",
                "",
                f"Command: `{p['command']}`; raw stacks in `{p['raw']}` (collapsed format, for flamegraph "
                "tools).",
                "",
                f"Server CPU per request while profiled: {fmt(load['cpu_us_per_req'], 0)} µs (py-spy's "
                f"pauses included); {p['background_threads']:.1%} of the samples are in background threads "
                "(the SQLite trace writer), the rest on the event loop.",
                "",
                "| component (self time) | share | ≈ µs/request |",
                "| --- | ---: | ---: |",
            ]
            per_req = load.get("cpu_us_per_req") or 0.0
            out += [
                f"| {name} | {share:.1%} | {share * per_req:,.0f} |"
                for name, share in p["by_component"]
                if share >= 0.005
            ]
            out += ["", "| top functions (self time) | share |", "| --- | ---: |"]
            out += [f"| `{name}` | {share:.1%} |" for name, share in p["top_self"]]
            out += ["", "| pilothouse functions (inclusive: with what they call) | share |", "| --- | ---: |"]
            out += [f"| `{name}` | {share:.1%} |" for name, share in p["pilothouse_inclusive"]]
            out.append("")
        return out


# --------------------------------------------------------------------------------------------------
# the run


def default_pilothouse() -> str:
    venv = REPO / ".venv" / "bin" / "pilothouse"
    return str(venv) if venv.exists() else (shutil.which("pilothouse") or "pilothouse")


def default_pyspy() -> str | None:
    venv = Path(sys.executable).parent / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--litellm", default=None, help="path to LiteLLM's `litellm` binary (separate venv)")
    p.add_argument("--pilothouse", default=default_pilothouse(), help="the pilothouse command")
    p.add_argument("--concurrency", type=int_list, default=[1, 16, 64], help="comma-separated, e.g. 1,16,64")
    p.add_argument("--modes", type=lambda s: [m for m in s.split(",") if m], default=list(MODES))
    p.add_argument("--duration", type=float, default=4.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    p.add_argument("--repeats", type=int, default=3, help="runs per cell; medians are reported")
    p.add_argument("--max-requests", type=int, default=100_000, help="cap per load-generator run")
    p.add_argument("--chunks", type=int, default=16, help="content chunks per streamed answer")
    p.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="pause between stream chunks at the mock"
    )
    p.add_argument("--wrk", default=shutil.which("wrk"), help="wrk binary (default: from PATH)")
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk saturation runs")
    p.add_argument("--wrk-concurrency", type=int_list, default=[64])
    p.add_argument("--wrk-duration", type=int, default=4, help="seconds (whole)")
    p.add_argument("--py-spy", dest="pyspy", default=default_pyspy(), help="py-spy binary")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--profile-seconds", type=float, default=8.0)
    p.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--profile-concurrency", type=int, default=16)
    p.add_argument("--no-pin", action="store_true", help="do not pin processes with taskset")
    p.add_argument(
        "--quiet-threshold", type=float, default=0.3, help="before a run, wait while others use more cores"
    )
    p.add_argument("--quiet-budget", type=float, default=90.0, help="most seconds waited so, in all")
    p.add_argument("--mock-port", type=int, default=18900)
    p.add_argument("--gateway-port", type=int, default=18787)
    p.add_argument("--litellm-port", type=int, default=18788)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ph-bench"))
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md", help="Markdown report ('-': none)")
    p.add_argument("--json", type=Path, default=None, help="raw figures (default: WORKDIR/last-run.json)")
    p.add_argument("--render", type=Path, default=None, help="only remake the report from a run's JSON")
    args = p.parse_args(argv)
    bad = [m for m in args.modes if m not in MODES]
    if bad:
        p.error(f"unknown mode(s) {bad}; choose from {MODES}")
    return args


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    try:
        yield started
    finally:
        for s in reversed(started):
            if s.alive():
                s.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        write_report(Report.from_json(orjson.loads(args.render.read_bytes())), args.results)
        return 0
    t0 = time.monotonic()
    started = dt.datetime.now(dt.UTC)
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("bench.db*"):
        old.unlink()
    pin = Pinning(
        enabled=not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    )
    notes: list[str] = []
    load1 = os.getloadavg()[0]
    notes.append(f"1-minute load average before the run: {load1:.2f} (the machine is shared).")
    ports = [args.mock_port, args.gateway_port] + ([args.litellm_port] if args.litellm else [])
    busy = [p for p in ports if not port_free(p)]
    if busy:
        log(f"ports already in use: {busy}")
        return 2

    with services() as running:
        log("starting the mock upstream")
        mock = Service(
            "mock upstream",
            [
                *pin.prefix("load"),
                sys.executable,
                str(BENCH / "mock_upstream.py"),
                "--port",
                str(args.mock_port),
                "--chunks",
                str(args.chunks),
                "--chunk-delay-ms",
                str(args.chunk_delay_ms),
            ],
            workdir / "mock.log",
        )
        running.append(mock)
        wait_http(f"http://127.0.0.1:{args.mock_port}/healthz", mock, 15)

        log("starting the gateway")
        config = gateway_config(workdir, args.gateway_port, args.mock_port)
        gateway = Service(
            "pilothouse gateway",
            [*pin.prefix("server"), args.pilothouse, "serve", "--config", str(config)],
            workdir / "gateway.log",
        )
        running.append(gateway)
        waited = wait_http(f"http://127.0.0.1:{args.gateway_port}/healthz", gateway, 60)
        log(f"gateway ready after {waited:.1f}s")
        gw_url = f"http://127.0.0.1:{args.gateway_port}/v1/chat/completions"
        status, headers, body = post_json(
            gw_url, {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]}, GATEWAY_KEY
        )
        if status != 200 or TRACE_HEADER not in headers:
            raise RuntimeError(f"gateway smoke request: HTTP {status} {headers} {body[:500]!r}")

        targets = [
            Target(
                "direct",
                "direct to mock",
                f"http://127.0.0.1:{args.mock_port}/v1/chat/completions",
                "x",
                None,
            ),
            Target("pilothouse", "Pilothouse", gw_url, GATEWAY_KEY, gateway, expect_header=TRACE_HEADER),
        ]
        targets[1].traced_requests = 1  # the smoke request

        lite_version: str | None = None
        if args.litellm:
            log("starting LiteLLM's proxy (one worker, no database)")
            lite_version = litellm_version(args.litellm)
            env = {
                **os.environ,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no network fetch of the price map
                "LITELLM_LOG": "ERROR",
                "LITELLM_TELEMETRY": "False",
                "DISABLE_SCHEMA_UPDATE": "True",
            }
            env.pop("DATABASE_URL", None)
            lite = Service(
                "LiteLLM proxy",
                [
                    *pin.prefix("server"),
                    args.litellm,
                    "--config",
                    str(litellm_config(workdir, args.mock_port)),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.litellm_port),
                    "--num_workers",
                    "1",
                ],
                workdir / "litellm.log",
                env=env,
            )
            running.append(lite)
            waited = wait_http(f"http://127.0.0.1:{args.litellm_port}/health/liveliness", lite, 180)
            log(f"LiteLLM ready after {waited:.1f}s")
            lite_url = f"http://127.0.0.1:{args.litellm_port}/v1/chat/completions"
            status, _, body = post_json(
                lite_url,
                {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}]},
                LITELLM_KEY,
            )
            if status != 200:
                raise RuntimeError(f"LiteLLM smoke request: HTTP {status} {body[:500]!r}")
            targets.append(Target("litellm", f"LiteLLM {lite_version}", lite_url, LITELLM_KEY, lite))
        else:
            notes.append(
                "LiteLLM not run (no `--litellm`): the 20x target is checked against the issue's 85 req/s."
            )

        time.sleep(1.0)
        memory: dict[str, dict[str, float]] = {
            t.name: {"idle": rss_mib(t.service.pid)} for t in targets if t.service is not None
        }

        cells: dict[tuple[str, str, int], Cell] = {}
        gate = QuietGate(args.quiet_threshold, args.quiet_budget)
        for rep in range(args.repeats):
            for mode in args.modes:
                for c in args.concurrency:
                    for t in targets:
                        log(f"run {rep + 1}/{args.repeats} {mode} c={c} {t.name}")
                        gate.wait()
                        cell = cells.setdefault((t.name, mode, c), Cell(t.name, mode, c))
                        result = run_loadgen(t, mode, c, args, pin)
                        cell.runs.append(result)
                        if t.service is not None and not t.service.alive():
                            raise RuntimeError(f"{t.name} died under load:\n{t.service.tail()}")

        gw_target = targets[1]
        db = workdir / "bench.db"
        traces: dict[str, Any] = {
            "expected_loadgen": gw_target.traced_requests,
            "after_loadgen": settled_trace_count(db),
            "missing_header": sum(
                int(r.get("missing_header") or 0)
                for c in cells.values()
                if c.target == "pilothouse"
                for r in c.runs
            ),
        }
        log(f"traces: {traces['after_loadgen']} rows for {traces['expected_loadgen']} requests")

        wrk_runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        wrk_conns = 0
        if args.wrk and not args.no_wrk:
            for rep in range(args.repeats):
                for mode in args.modes:
                    for c in args.wrk_concurrency:
                        for t in targets:
                            log(f"wrk {rep + 1}/{args.repeats} {mode} c={c} {t.name}")
                            gate.wait()
                            wrk_runs.setdefault((t.name, mode, c), []).append(
                                run_wrk(args.wrk, t, mode, c, args, pin, workdir)
                            )
                            if t is gw_target:
                                wrk_conns += c
        elif not args.no_wrk:
            notes.append("wrk not found: saturation figures come from the Python load generator.")

        profiles: dict[str, dict[str, Any]] = {}
        if not args.no_profile and args.pyspy:
            for mode in args.modes:
                log(f"profiling the gateway ({mode})")
                try:
                    profiles[mode] = run_profile(args.pyspy, gw_target, mode, args, pin, workdir)
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    profiles[mode] = {"error": str(exc)[:500]}
        elif not args.no_profile:
            notes.append("py-spy not found: no profile (pip install py-spy).")

        for t in targets:
            if t.service is not None:
                memory[t.name]["after"] = rss_mib(t.service.pid)
                memory[t.name]["peak"] = peak_rss_mib(t.service.pid)

        notes.append(
            f"Waited {gate.waited:.0f} s in all (budget {args.quiet_budget:g} s) for other work to drop "
            f"below {args.quiet_threshold:g} cores before runs."
        )
        log("stopping the gateway (graceful)")
        code = gateway.stop()
        if code not in (0, -signal.SIGTERM):
            notes.append(f"the gateway exited with code {code} on SIGTERM: {gateway.tail(5)}")
        traces["final"] = count_traces(db)
        traces["expected_final"] = gw_target.traced_requests
        traces["tolerance"] = wrk_conns
    wall = time.monotonic() - t0
    report = Report(
        args=args,
        argv=["python", "bench/gateway_overhead.py", *(sys.argv[1:] if argv is None else argv)],
        started=started,
        pin=pin,
        targets=targets,
        cells=cells,
        wrk=wrk_runs,
        memory=memory,
        traces=traces,
        profiles=profiles,
        notes=notes,
        litellm_version=lite_version,
        code=code_version(args.pilothouse),
        wall_s=wall,
    )
    json_path: Path = args.json or workdir / "last-run.json"
    json_path.write_text(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode())
    log(f"raw figures in {json_path} (remake the report with --render {json_path})")
    write_report(report, args.results)
    return 0


def write_report(report: Report, results: Path) -> None:
    text = report.render()
    if str(results) != "-":
        kept = ""
        if results.exists():
            old = results.read_text()
            if NOTES_MARKER in old:
                kept = old[old.index(NOTES_MARKER) :]
        results.write_text(text + "\n" + (kept or NOTES_MARKER + "\n"))
        log(f"wrote {results}")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
