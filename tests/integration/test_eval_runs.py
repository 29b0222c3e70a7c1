"""Acceptance 2: a suite with a matrix of two prompt versions by two routes runs through the real
gateway with a progress bar, survives an interruption (a real ``pilothouse eval run`` process stopped
with SIGINT, or killed with SIGKILL) and resumes without re-sending a finished case, and then
re-runs from cache with no request and no spend."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.eval_support import (
    PILOTHOUSE,
    cli_env,
    db_rows,
    gateway_config,
    prompt,
    provider_calls,
    run_cli,
    seed_prompts,
    write_cases,
    write_project,
    write_suite,
)
from tests.gateway_harness import USER_KEY, Gateway, running_gateway

pytestmark = pytest.mark.integration

CASES = 12
TARGETS = 4  # support-reply v1 and v2 x route-a and route-b
TOTAL = CASES * TARGETS


def matrix_suite(tmp_path: Path) -> Path:
    write_cases(tmp_path / "cases.jsonl", CASES, expected="30 days")
    return write_suite(
        tmp_path / "suite.yaml",
        name="support-matrix",
        prompts=["support-reply@production", "support-reply@2"],
        models=["route-a", "route-b"],
        params={"temperature": 0},
        concurrency=2,
        scorers=[
            {"scorer": "contains", "threshold": 0.5},
            {"scorer": "regex", "name": "version-tag", "options": {"pattern": "^v[12]:"}},
            {"scorer": "cost", "options": {"max_usd": 0.01}},
        ],
    )


def start_project(tmp_path: Path, latency_ms: float) -> tuple[dict[str, object], Path]:
    config = gateway_config(tmp_path, latency_ms=latency_ms)
    seed_prompts(
        tmp_path / "pilothouse.db",
        [prompt("v1", "Refunds take 30 days."), prompt("v2", "Refunds are quick.")],
        production=1,
    )
    return config, write_project(tmp_path, config)


def finished_results(db: Path, run_id: str | None = None) -> int:
    sql = "SELECT count(*) FROM eval_results WHERE status = 'ok'"
    rows = db_rows(db, sql + " AND run_id = ?", (run_id,)) if run_id else db_rows(db, sql)
    return int(rows[0][0])


def run_args(gw: Gateway, cfg: Path, *extra: str) -> list[str]:
    return ["eval", "run", "suite.yaml", "--base-url", gw.base_url, "--key", USER_KEY, "-c", str(cfg), *extra]


def eval_run(gw: Gateway, tmp_path: Path, cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*run_args(gw, cfg, *extra), cwd=tmp_path)


def start_run(gw: Gateway, tmp_path: Path, cfg: Path, *extra: str) -> subprocess.Popen[str]:
    args = run_args(gw, cfg, *extra)
    return subprocess.Popen(
        [*PILOTHOUSE, *args],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_midway(proc: subprocess.Popen[str], db: Path, sig: signal.Signals) -> tuple[str, str]:
    """Let some cases finish (saved in the store), then deliver ``sig`` to the eval run."""
    deadline = time.monotonic() + 60
    while True:
        try:
            done = finished_results(db)
        except Exception:  # the tables may not exist yet: the process is still starting
            done = 0
        if done >= 8:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return out, err


def settle() -> None:
    time.sleep(0.5)  # requests in flight at the interruption reach the provider


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_matrix_run_resumes_after_an_interruption_and_reruns_from_cache(
    tmp_path: Path, sig: signal.Signals
) -> None:
    config, cfg = start_project(tmp_path, latency_ms=60)
    db = tmp_path / "pilothouse.db"
    matrix_suite(tmp_path)
    with running_gateway(config) as gw:
        proc = start_run(gw, tmp_path, cfg)
        out, err = stop_midway(proc, db, sig)
        settle()
        (run_id,) = db_rows(db, "SELECT run_id FROM eval_runs")[0]
        status = db_rows(db, "SELECT status FROM eval_runs")[0][0]
        if sig == signal.SIGINT:
            # Ctrl-C: the run saves its state, says how to resume and exits 130.
            assert proc.returncode == 130, out + err
            assert f"--resume {run_id}" in err
            assert status == "interrupted"
        else:
            assert proc.returncode == -signal.SIGKILL
            assert status == "running"  # killed outright: still resumable, its results are saved
        finished = finished_results(db, run_id)
        assert 8 <= finished < TOTAL
        calls_before = provider_calls(gw)
        assert calls_before >= finished

        # Resume: automatically after SIGINT (same command), by id after SIGKILL.
        extra = () if sig == signal.SIGINT else ("--resume", run_id)
        resumed = eval_run(gw, tmp_path, cfg, *extra)
        settle()
        assert f"Resuming run {run_id}" in resumed.stderr
        # Exactly the unfinished items were sent: nothing that had finished went out again.
        assert provider_calls(gw) - calls_before == TOTAL - finished
        assert f"{finished} resumed, 0 from cache, {TOTAL - finished} sent, 0 errors" in resumed.stdout
        assert f"{TOTAL}/{TOTAL}" in resumed.stderr  # the progress bar's final state
        assert finished_results(db, run_id) == TOTAL
        assert db_rows(db, "SELECT status FROM eval_runs WHERE run_id = ?", (run_id,))[0][0] == "finished"
        # Every case has the trace the gateway gave it.
        traces = db_rows(db, "SELECT count(DISTINCT trace_id) FROM eval_results WHERE run_id = ?", (run_id,))
        assert traces[0][0] == TOTAL
        if sig == signal.SIGKILL:
            return  # the cache is the same after either interruption: checked once, below

        # Unchanged suite, finished run: a new run answered entirely from cache, at no cost.
        calls_before = provider_calls(gw)
        again = eval_run(gw, tmp_path, cfg)
        settle()
        assert provider_calls(gw) == calls_before
        assert f"0 resumed, {TOTAL} from cache, 0 sent, 0 errors; spend this time $0.000000" in again.stdout
        assert f"cached {TOTAL}" in again.stderr
        runs = db_rows(db, "SELECT run_id FROM eval_runs ORDER BY run_id")
        assert len(runs) == 2
        cached = db_rows(db, "SELECT count(*), sum(cached) FROM eval_results WHERE run_id = ?", (runs[1][0],))
        assert cached[0] == (TOTAL, TOTAL)

        # --no-cache sends everything again.
        calls_before = provider_calls(gw)
        eval_run(gw, tmp_path, cfg, "--no-cache")
        settle()
        assert provider_calls(gw) - calls_before == TOTAL


def test_matrix_targets_and_scores_per_prompt_version_and_route(tmp_path: Path) -> None:
    """What the matrix run stored: four pinned targets, the rendered version in each output, costs
    from each route's own prices, and the scorer verdicts that follow."""
    config, cfg = start_project(tmp_path, latency_ms=0)
    db = tmp_path / "pilothouse.db"
    matrix_suite(tmp_path)
    with running_gateway(config) as gw:
        done = eval_run(gw, tmp_path, cfg)
    assert "support-reply@production (v1) x route-a" in done.stdout
    rows = db_rows(
        db,
        "SELECT r.target_id, s.scorer, avg(s.value), avg(r.cost_nanousd) FROM eval_results r"
        " JOIN eval_scores s USING (run_id, case_id, target_id, repeat_no) GROUP BY r.target_id, s.scorer",
    )
    means = {(t, s): v for t, s, v, _ in rows}
    assert means[("support-reply@1|route-a", "contains")] == 1.0  # v1 says "30 days"
    assert means[("support-reply@2|route-b", "contains")] == 0.0
    assert means[("support-reply@2|route-a", "version-tag")] == 1.0
    costs = {t: c for t, s, _, c in rows if s == "cost"}
    assert 0 < costs["support-reply@1|route-a"] < costs["support-reply@1|route-b"]  # route-b is pricier
    # The gateway's traces name the prompt version each case was rendered from.
    trace = db_rows(
        db,
        "SELECT json_extract(t.record, '$.prompt'), json_extract(t.record, '$.prompt_version'), t.route"
        " FROM eval_results r JOIN traces t USING (trace_id)"
        " WHERE r.target_id = 'support-reply@2|route-b' LIMIT 1",
    )
    assert trace == [("support-reply", 2, "route-b")]
