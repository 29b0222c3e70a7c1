"""Acceptance 4: ``pilothouse eval run --gate`` exits non-zero on a regression against the production
version (or a failed threshold) and zero otherwise; the prompt registry then refuses to promote a
version without a passing gated run, and promotes one that has it. Also ``eval show/list/compare``
and their reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.eval_support import (
    db_rows,
    gateway_config,
    invoke,
    prompt,
    run_cli,
    seed_prompts,
    write_cases,
    write_project,
    write_suite,
)
from tests.gateway_harness import USER_KEY, running_gateway

pytestmark = pytest.mark.integration


def gated_suite(tmp_path: Path, ref: str) -> Path:
    return write_suite(
        tmp_path / f"gate-{ref.replace('@', '-')}.yaml",
        name="support-gate",
        prompts=[ref],
        models=["route-a"],
        scorers=[{"scorer": "contains"}, {"scorer": "regex", "options": {"pattern": "question"}}],
        gate={"tolerance": 0.05},
    )


def test_gate_fails_on_a_regression_and_the_registry_refuses_the_promotion(tmp_path: Path) -> None:
    config = gateway_config(tmp_path)
    seed_prompts(
        tmp_path / "pilothouse.db",
        [
            prompt("v1", "Refunds take 30 days."),
            prompt("v2", "Refunds are quick."),  # drops the refund window: a regression
            prompt("v3", "All refunds take 30 days."),  # reworded, no worse
        ],
        production=1,
    )
    cfg = str(write_project(tmp_path, config))
    write_cases(tmp_path / "cases.jsonl", 20, expected="30 days")
    with running_gateway(config) as gw:
        access = ("--base-url", gw.base_url, "--key", USER_KEY, "-c", cfg)
        bad = run_cli("eval", "run", str(gated_suite(tmp_path, "support-reply@2")), "--gate", *access,
                      "--markdown", "gate.md", cwd=tmp_path, check=False)  # fmt: skip
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "gate FAIL support-reply@2 x route-a vs support-reply@1 (production) x route-a" in bad.stdout
        assert "regression contains: -1.000" in bad.stdout
        assert "Gate failed." in bad.stdout
        assert "regression" in (tmp_path / "gate.md").read_text()

        refused = invoke("prompts", "promote", "support-reply", "2", "-c", cfg)
        assert refused.returncode != 0
        assert "no passing gated eval run" in refused.stdout

        good = run_cli("eval", "run", str(gated_suite(tmp_path, "support-reply@3")), "--gate", *access,
                       cwd=tmp_path, check=False)  # fmt: skip
        assert good.returncode == 0, good.stdout + good.stderr
        assert "gate PASS support-reply@3 x route-a vs support-reply@1 (production) x route-a" in good.stdout
        # The baseline (v1) answered from cache: the failed gate's run had already asked it.
        assert "20 from cache, 20 sent" in good.stdout
        promoted = invoke("prompts", "promote", "support-reply", "3", "-c", cfg)
        assert "to version 3" in promoted.stdout

    passes = db_rows(tmp_path / "pilothouse.db", "SELECT prompt, version FROM eval_gate_passes")
    assert passes == [("support-reply", 3)]
    gates = db_rows(tmp_path / "pilothouse.db", "SELECT gate, gate_passed FROM eval_runs ORDER BY run_id")
    assert gates == [(1, 0), (1, 1)]


def messages_project(tmp_path: Path, reply: str) -> str:
    """A project whose gateway runs in-process (no --base-url): one fake model with a fixed reply."""
    config: dict[str, Any] = {
        "storage": {"url": f"sqlite:///{tmp_path / 'ph.db'}"},
        "providers": {"fake": {"type": "fake", "reply": reply}},
        "models": [{"name": "support-bot", "provider": "fake", "upstream": "m", "output_price": 1}],
    }
    path = tmp_path / "pilothouse.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_thresholds_and_a_baseline_run_gate_a_suite_without_prompts(tmp_path: Path) -> None:
    cfg = messages_project(tmp_path, "Refunds take 30 days [1].")
    lines = [
        {"id": f"c{i}", "input": f"refund question {i}", "expected": "30 days", "metadata": {"tier": "a"}}
        for i in range(15)
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    scorers = [{"scorer": "contains", "threshold": 0.9}, {"scorer": "citation", "threshold": 0.5}]
    write_suite(tmp_path / "suite.yaml", name="faq", models=["support-bot"], scorers=scorers)
    write_suite(
        tmp_path / "strict.yaml",
        name="faq-strict",
        models=["support-bot"],
        scorers=[{"scorer": "regex", "threshold": 0.5, "options": {"pattern": "^Sorry"}}],
    )

    passed = run_cli("eval", "run", "suite.yaml", "--gate", "-c", cfg, cwd=tmp_path, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "gate PASS support-bot (thresholds only)" in passed.stdout
    failed = run_cli("eval", "run", "strict.yaml", "--gate", "-c", cfg, cwd=tmp_path, check=False)
    assert failed.returncode == 1
    assert "threshold regex: mean 0.000 < 0.500" in failed.stdout
    # Without --gate a failing threshold is reported, not an error.
    assert run_cli("eval", "run", "strict.yaml", "-c", cfg, cwd=tmp_path).returncode == 0

    (baseline,) = db_rows(tmp_path / "ph.db", "SELECT run_id FROM eval_runs WHERE suite = 'faq'")[0]
    # The model's config changes (its reply drops the refund window): its fingerprint changes, so
    # the cache does not answer for it, and the gate compares against the earlier run.
    messages_project(tmp_path, "Refunds are quick [1].")
    regressed = run_cli("eval", "run", "suite.yaml", "--gate", "--baseline", baseline, "-c", cfg,
                        "--junit", "junit.xml", "--json", "gate.json", cwd=tmp_path, check=False)  # fmt: skip
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    assert "0 from cache, 15 sent" in regressed.stdout
    assert f"vs support-bot in run {baseline}" in regressed.stdout
    assert "regression contains" in regressed.stdout
    assert "<failure" in (tmp_path / "junit.xml").read_text()
    assert json.loads((tmp_path / "gate.json").read_text())
    (candidate,) = db_rows(
        tmp_path / "ph.db", "SELECT run_id FROM eval_runs WHERE suite = 'faq' ORDER BY run_id DESC"
    )[0]

    listed = invoke("eval", "list", "-c", cfg)
    assert baseline in listed.stdout and "failed" in listed.stdout
    shown = invoke("eval", "show", candidate, "--cases", "-c", cfg)
    assert "Refunds are quick [1]." in shown.stdout and "regression contains" in shown.stdout

    compared = invoke("eval", "compare", baseline, candidate, "--fail-on-regression", "--markdown",
                      str(tmp_path / "cmp.md"), "--html", str(tmp_path / "cmp.html"), "-c", cfg)  # fmt: skip
    assert compared.returncode == 1
    assert "regression" in compared.stdout and "tier=a" in compared.stdout
    markdown = (tmp_path / "cmp.md").read_text()
    assert "contains" in markdown and "regression" in markdown
    assert "quick" in (tmp_path / "cmp.html").read_text()  # in a word diff of the two outputs
    unknown = invoke("eval", "compare", baseline, "-c", cfg)
    assert unknown.returncode == 2 and "--baseline-target" in unknown.stdout
