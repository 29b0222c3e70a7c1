"""Bench harness: processes (start, pin, stop), their CPU and memory, loopback HTTP helpers."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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
