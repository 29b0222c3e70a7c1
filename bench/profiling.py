"""py-spy profiles of the gateway under load, summarised by where the time goes."""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from drivers import Target, run_loadgen
from harness import Pinning

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
