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
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from drivers import Cell, Target, count_traces, run_loadgen, run_wrk, settled_trace_count
from harness import (
    BENCH,
    GATEWAY_KEY,
    LITELLM_KEY,
    MODES,
    REPO,
    TRACE_HEADER,
    Pinning,
    QuietGate,
    Service,
    log,
    peak_rss_mib,
    port_free,
    post_json,
    rss_mib,
    services,
    wait_http,
)
from profiling import run_profile
from report import Report, code_version, write_report


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


if __name__ == "__main__":
    sys.exit(main())
