"""Shared set-up for the eval harness's integration tests: a gateway on fake providers with two routes,
prompts seeded in its store, suites written to disk, and the CLI run as a real process."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml
from typer.testing import CliRunner

from pilothouse.bootstrap import build_prompt_registry
from pilothouse.cli.main import app
from pilothouse.prompts import PromptSpec
from pilothouse.store import SQLiteStore
from tests.gateway_harness import Gateway, base_config

PILOTHOUSE = [sys.executable, "-m", "pilothouse.cli"]


def cli_env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def run_cli(
    *args: str, cwd: Path, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*PILOTHOUSE, *args], cwd=cwd, capture_output=True, text=True, env=cli_env(), timeout=timeout
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@dataclass
class Invoked:
    returncode: int
    stdout: str


def invoke(*args: str) -> Invoked:
    """A command in-process: the installed CLI's code without a process start (which costs seconds
    on a busy machine). Commands whose process behaviour matters (signals, exit codes of ``eval
    run``) go through ``run_cli``. ``stdout`` holds stderr too."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    return Invoked(result.exit_code, result.output)


def gateway_config(tmp_path: Path, *, latency_ms: float = 0) -> dict[str, Any]:
    """Two echo providers behind two routes (answers show the rendered prompt), with prices."""
    config = base_config(tmp_path)
    config["providers"] = {
        "fake": {"type": "fake", "echo": True, "latency_ms": latency_ms},
        "alt": {"type": "fake", "echo": True, "latency_ms": latency_ms},
    }
    config["models"] = [
        {"name": "fake-chat", "provider": "fake", "upstream": "m", "input_price": 1, "output_price": 2},
        {"name": "fake-alt", "provider": "alt", "upstream": "m2", "input_price": 3, "output_price": 4},
        {"name": "fake-embed", "provider": "fake", "upstream": "e", "kind": "embedding"},
    ]
    config["routes"] = [
        {"name": "route-a", "deployments": ["fake-chat"]},
        {"name": "route-b", "deployments": ["fake-alt"]},
    ]
    return config


def write_project(tmp_path: Path, config: dict[str, Any]) -> Path:
    """The gateway's config as the CLI's ``pilothouse.yaml`` (same store file)."""
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump({**config, "server": {"port": 0}}))
    return path


def prompt(tag: str, text: str) -> dict[str, Any]:
    return {
        "name": "support-reply",
        "model": "route-a",
        "variables": {"question": {}},
        "messages": [{"role": "user", "content": f"{tag}: {text} {{{{ question }}}}"}],
    }


def seed_prompts(db: Path, specs: list[dict[str, Any]], production: int | None) -> None:
    async def work() -> None:
        store = SQLiteStore(str(db))
        try:
            registry = build_prompt_registry(store)
            for spec in specs:
                await registry.push(PromptSpec.model_validate(spec), who="test", why="set-up")
            if production is not None:
                await registry.promote(
                    "support-reply", production, "production", who="test", why="x", force=True
                )
        finally:
            await store.aclose()

    asyncio.run(work())


def write_cases(path: Path, n: int, **fields: Any) -> None:
    lines = [
        {
            "id": f"case-{i:03d}",
            "variables": {"question": f"question {i}"},
            "metadata": {"topic": ("a", "b")[i % 2]},
            **fields,
        }
        for i in range(n)
    ]
    path.write_text("".join(orjson.dumps(line).decode() + "\n" for line in lines))


def write_suite(path: Path, **suite: Any) -> Path:
    path.write_text(yaml.safe_dump({"dataset": "cases.jsonl", **suite}))
    return path


def provider_calls(gw: Gateway) -> int:
    return sum(getattr(p, "calls", 0) for p in gw.runtime.providers.values())


def db_rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
