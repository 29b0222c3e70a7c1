"""What the full request pipeline costs over the spine: the same gateway, the same mock upstream, first
with auth and traces only, then with everything on (idempotency check, admission with RPM, TPM,
concurrency and a team budget, an exact cache lookup and store, a route with a fallback and a
circuit breaker, accounting, traces). Every request carries a unique temperature-0 prompt, so the
cache looks up, misses and stores, as it does for real traffic.

    .venv/bin/python bench/pipeline_overhead.py            # about 2 minutes

The figures go into bench/RESULTS.md as the "Full pipeline" section (below the notes marker, which
gateway_overhead.py keeps when it rewrites the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from harness import BENCH, NOTES_MARKER, Pinning, Service, cpu_seconds, services, wait_http

KEY = "ph-bench-secret-key-0123456789"
SECTION = "## Full pipeline versus the spine"

SPINE = """
models:
  - {{name: bench-model, provider: mock, upstream: mock-model, input_price: 0.15, output_price: 0.6}}
keys:
  - {{name: bench, team: bench, secret: "{key}"}}
"""
FULL = """
models:
  - {{name: bench-model, provider: mock, upstream: mock-model, input_price: 0.15, output_price: 0.6}}
  - {{name: bench-backup, provider: mock, upstream: mock-backup, input_price: 2.5, output_price: 10}}
routes:
  - name: bench-route
    deployments: [bench-model]
    fallbacks: [bench-backup]
    cache: {{exact: true, ttl_seconds: 600}}
    limits: {{rpm: 100000000}}
limits:
  key_default: {{rpm: 100000000, tpm: 10000000000, max_concurrency: 100000}}
  teams: {{bench: {{rpm: 100000000}}}}
  max_inflight: 100000
budgets:
  - {{scope: team, name: bench, period: month, limit_usd: 1000000}}
keys:
  - {{name: bench, team: bench, secret: "{key}"}}
"""


def config(workdir: Path, name: str, body: str, port: int, mock_port: int) -> Path:
    path = workdir / f"pipeline-{name}.yaml"
    path.write_text(
        f"""server: {{host: 127.0.0.1, port: {port}}}
storage: {{url: "sqlite:///{workdir}/pipeline-{name}.db"}}
providers:
  mock: {{type: openai, base_url: "http://127.0.0.1:{mock_port}/v1", api_key: "x"}}
"""
        + body.format(key=KEY)
    )
    return path


def load(
    url: str, model: str, concurrency: int, args: argparse.Namespace, pin: Pinning, extra: Sequence[str] = ()
) -> dict[str, Any]:
    argv = [
        *pin.prefix("load"), sys.executable, str(BENCH / "loadgen.py"), "--url", url, "--model", model,
        "-c", str(concurrency), "-d", str(args.duration), "--warmup", "1", "--key", KEY, "--vary", *extra,
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 120, check=True)
    result: dict[str, Any] = orjson.loads(proc.stdout.strip().splitlines()[-1])
    if sum(result["errors"].values()):
        raise RuntimeError(f"errors from {url}: {result['first_error']}")
    return result


def measure(
    name: str,
    url: str,
    model: str,
    service: Service | None,
    args: argparse.Namespace,
    pin: Pinning,
    extra: Sequence[str] = (),
) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for concurrency in args.concurrency:
        runs = []
        for _ in range(args.repeats):
            before = cpu_seconds(service.pid) if service else 0.0
            result = load(url, model, concurrency, args, pin, extra)
            cpu = (cpu_seconds(service.pid) - before) / result["sent"] * 1e6 if service else 0.0
            runs.append((result["rps"], result["latency_ms"]["p50"], result["latency_ms"]["p99"], cpu))
        out[concurrency] = {
            "rps": statistics.median(r[0] for r in runs),
            "p50": statistics.median(r[1] for r in runs),
            "p99": statistics.median(r[2] for r in runs),
            "cpu_us": statistics.median(r[3] for r in runs),
        }
        print(f"{name} c={concurrency}: {out[concurrency]}", flush=True)
    return out


def section(results: dict[str, dict[int, dict[str, float]]], args: argparse.Namespace) -> str:
    direct, spine, full = results["direct"], results["spine"], results["full"]
    lines = [
        SECTION,
        "",
        f"Written by `bench/pipeline_overhead.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC: "
        f"non-streaming, {args.repeats} runs of {args.duration:g} s per cell (medians), a unique "
        "temperature-0 prompt per request. Spine = key auth and traces; full = idempotency check, "
        "admission (key, team and route RPM, TPM, concurrency, team budget), exact cache lookup + store, "
        "a route with a fallback and a breaker, accounting, traces.",
        "",
        "| conc. | target | req/s | p50 ms | p99 ms | added p50 ms | CPU/req µs |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in args.concurrency:
        for label, row in (("direct to mock", direct[c]), ("spine", spine[c]), ("full pipeline", full[c])):
            added = f"{row['p50'] - direct[c]['p50']:.2f}" if label != "direct to mock" else "-"
            cpu = f"{row['cpu_us']:,.0f}" if label != "direct to mock" else "-"
            figures = f"{row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f}"
            lines.append(f"| {c} | {label} | {figures} | {added} | {cpu} |")
    c1, top = args.concurrency[0], args.concurrency[-1]
    lines += [
        "",
        f"The full pipeline adds {full[c1]['p50'] - spine[c1]['p50']:+.2f} ms at p50 over the spine at "
        f"concurrency {c1}, and keeps {full[top]['rps'] / spine[top]['rps']:.0%} of the spine's throughput "
        f"at concurrency {top} ({full[top]['cpu_us'] - spine[top]['cpu_us']:+,.0f} µs of CPU per request).",
        "",
    ]
    return "\n".join(lines)


def write(results_md: Path, text: str) -> None:
    """Put ``text`` (a section starting with its ``## `` heading) below the notes marker, replacing
    the previous section of that heading and keeping every other note."""
    section = text.split("\n", 1)[0]
    current = results_md.read_text() if results_md.exists() else NOTES_MARKER + "\n"
    head, _, notes = current.partition(NOTES_MARKER)
    if section in notes:
        before, _, after = notes.partition(section)
        rest = after.split("\n## ", 1)
        notes = before + (("\n## " + rest[1]) if len(rest) > 1 else "")
    results_md.write_text(head + NOTES_MARKER + notes.rstrip("\n") + "\n\n" + text)


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every gateway-comparison bench takes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ph-bench"))
    p.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    p.add_argument("--pilothouse", default=str(Path(sys.executable).with_name("pilothouse")))
    return p


def prepare(args: argparse.Namespace, prefix: str) -> Pinning:
    """A clean work folder (no databases of earlier runs) and the CPU pinning to use."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    for old in args.workdir.glob(f"{prefix}-*.db*"):
        old.unlink()
    return Pinning(enabled=shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2)


def start_mock(running: list[Service], pin: Pinning, workdir: Path, port: int, prefix: str) -> None:
    mock = Service(
        "mock",
        [*pin.prefix("load"), sys.executable, str(BENCH / "mock_upstream.py"), "--port", str(port)],
        workdir / f"{prefix}-mock.log",
    )
    running.append(mock)
    wait_http(f"http://127.0.0.1:{port}/healthz", mock, 15)


def main(argv: list[str] | None = None) -> int:
    p = bench_parser(__doc__)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    args = p.parse_args(argv)
    pin = prepare(args, "pipeline")
    mock_port, port = 18910, 18797
    results: dict[str, dict[int, dict[str, float]]] = {}
    with services() as running:
        start_mock(running, pin, args.workdir, mock_port, "pipeline")
        results["direct"] = measure(
            "direct", f"http://127.0.0.1:{mock_port}/v1/chat/completions", "mock-model", None, args, pin
        )
        for name, body, model in (("spine", SPINE, "bench-model"), ("full", FULL, "bench-route")):
            cfg = config(args.workdir, name, body, port, mock_port)
            gateway = Service(
                name,
                [*pin.prefix("server"), args.pilothouse, "serve", "--config", str(cfg)],
                args.workdir / f"pipeline-{name}.log",
            )
            running.append(gateway)
            wait_http(f"http://127.0.0.1:{port}/healthz", gateway, 60)
            results[name] = measure(
                name, f"http://127.0.0.1:{port}/v1/chat/completions", model, gateway, args, pin
            )
            gateway.stop()
            running.remove(gateway)
    text = section(results, args)
    print(text)
    if str(args.results) != "-":
        write(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
