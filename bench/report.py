"""The gateway-overhead report: tables, notes and the RESULTS.md writer."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from drivers import Cell, Target
from harness import NOTES_MARKER, REPO, TRACE_HEADER, Pinning, log


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
