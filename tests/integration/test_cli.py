"""The CLI as a user runs it: a real process, a real config file, a real SQLite store."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

pytestmark = pytest.mark.integration

PILOTHOUSE = [sys.executable, "-m", "pilothouse.cli"]


def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    result = subprocess.run(
        [*PILOTHOUSE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "server": {"port": free_port(), "drain_seconds": 20},
        "storage": {"url": f"sqlite:///{tmp_path / 'ph.db'}"},
        "admin_key": "admin-cli-test",
        "providers": {"fake": {"type": "fake", "reply": " ".join(f"word{i}" for i in range(30))}},
        "models": [{"name": "fake-chat", "provider": "fake", "upstream": "fake-model", "output_price": 3}],
        **extra,
    }
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_init_writes_a_valid_starter_project(tmp_path: Path) -> None:
    run("init", str(tmp_path / "proj"), cwd=tmp_path)
    assert (tmp_path / "proj" / "pilothouse.yaml").read_text().startswith("# pilothouse.yaml")
    assert ".pilothouse/" in (tmp_path / "proj" / ".gitignore").read_text()
    again = run("init", str(tmp_path / "proj"), cwd=tmp_path, check=False)
    assert again.returncode != 0
    assert "exists" in again.stderr
    models = run("models", "--config", str(tmp_path / "proj" / "pilothouse.yaml"), cwd=tmp_path)
    assert "smollm2" in models.stdout


def test_bad_config_fails_with_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "pilothouse.yaml"
    path.write_text("server:\n  port: eighty\n")
    result = run("serve", "--config", str(path), cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "server.port" in result.stderr


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path))
    created = run(
        "keys",
        "create",
        "ci-bot",
        "--team",
        "platform",
        "--model",
        "fake-chat",
        "--config",
        cfg,
        cwd=tmp_path,
    )
    secret = re.search(r"(ph-\S+)", created.stdout)
    assert secret is not None
    listed = run("keys", "list", "--config", cfg, cwd=tmp_path).stdout
    assert "ci-bot" in listed
    assert "platform" in listed
    assert secret.group(1)[:10] in listed
    assert secret.group(1) not in listed
    key_id = re.search(r"\(([0-9a-f]{32})\)", created.stdout)
    assert key_id is not None
    run("keys", "revoke", key_id.group(1), "--config", cfg, cwd=tmp_path)
    assert "ci-bot" not in run("keys", "list", "--config", cfg, cwd=tmp_path).stdout
    assert "ci-bot" in run("keys", "list", "--all", "--config", cfg, cwd=tmp_path).stdout
    missing = run("keys", "revoke", "nope", "--config", cfg, cwd=tmp_path, check=False)
    assert missing.returncode == 1
    assert "No single key" in missing.stderr


async def _wait_ready(base: str, proc: subprocess.Popen[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                async with http.get(base + "/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("gateway did not become ready")


async def test_sigterm_drains_streams_and_keeps_traces(tmp_path: Path) -> None:
    """A stream in flight when SIGTERM arrives runs to [DONE]; its trace is stored before exit."""
    config_path = write_config(
        tmp_path,
        providers={
            "fake": {"type": "fake", "chunk_delay_ms": 40, "reply": " ".join(f"w{i}" for i in range(30))}
        },
    )
    cfg = yaml.safe_load(config_path.read_text())
    base = f"http://127.0.0.1:{cfg['server']['port']}"
    secret = re.search(
        r"(ph-\S+)", run("keys", "create", "drain", "--config", str(config_path), cwd=tmp_path).stdout
    )
    assert secret is not None
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(  # noqa: ASYNC220  # starting it is instant; waits below are bounded
        [*PILOTHOUSE, "serve", "--config", str(config_path)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await _wait_ready(base, proc)
        body = {"model": "fake-chat", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        headers = {"authorization": f"Bearer {secret.group(1)}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(base + "/v1/chat/completions", json=body) as r:
                trace_id = r.headers["x-pilothouse-trace-id"]
                first = await r.content.readline()
                assert first.startswith(b"data: ")
                proc.send_signal(signal.SIGTERM)
                rest = (await r.read()).decode()
        assert rest.rstrip().endswith("data: [DONE]")
        assert "w29" in rest
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit is by that signal.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    shown = run("traces", "show", trace_id, "--config", str(config_path), cwd=tmp_path).stdout
    assert trace_id in shown
    assert "provider.attempt" in shown
    assert "w29" in shown
    listed = run("traces", "list", "--config", str(config_path), cwd=tmp_path).stdout
    assert trace_id in listed


def test_traces_show_unknown_id(tmp_path: Path) -> None:
    result = run(
        "traces", "show", "01NOPE", "--config", str(write_config(tmp_path)), cwd=tmp_path, check=False
    )
    assert result.returncode == 1
    assert "no trace" in result.stderr


def test_version(tmp_path: Path) -> None:
    assert run("version", cwd=tmp_path).stdout.strip()


@pytest.mark.local_model
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the 'local' extra")
def test_demo_serves_the_local_model_and_leaves_traces(tmp_path: Path) -> None:
    port = free_port()
    result = run("demo", "--once", "--no-evals", "--port", str(port), cwd=tmp_path)  # evals: test_demo_evals
    assert f"http://127.0.0.1:{port}/v1" in result.stdout
    assert "Demo key (shown once)" in result.stdout
    assert "from openai import OpenAI" in result.stdout
    listed = run("traces", "list", cwd=tmp_path).stdout  # the demo's default storage, .pilothouse/
    assert listed.count("chat.completions") >= 4
    assert "embeddings" in listed
    assert (tmp_path / ".pilothouse" / "pilothouse.db").exists()


def test_drill_reports_fallbacks_and_fails_routes_without_them(tmp_path: Path) -> None:
    config = {
        "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [
            {"name": "primary", "provider": "up", "upstream": "a"},
            {"name": "backup", "provider": "up", "upstream": "b"},
        ],
        "routes": [
            {
                "name": "resilient",
                "deployments": ["primary"],
                "fallbacks": ["backup"],
                "retry": {"attempts": 1},
            },
            {"name": "fragile", "deployments": ["primary"], "retry": {"attempts": 1}},
        ],
        "circuit_breaker": {"consecutive_failures": 3},
    }
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump(config))
    ok = run(
        "drill", "resilient", "--scenario", "down", "--requests", "20", "--config", str(path), cwd=tmp_path
    )
    assert "down" in ok.stdout
    assert "backup 20" in ok.stdout
    assert "100.0%" in ok.stdout
    bad = run(
        "drill",
        "fragile",
        "--scenario",
        "down",
        "--requests",
        "10",
        "--config",
        str(path),
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 1
    assert "success rate" in bad.stdout
