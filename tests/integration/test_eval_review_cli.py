"""Acceptance 5 end to end: an LLM judge scores a run, reviewers label a sample from the CLI, and
``review agreement`` reports the confusion matrix and Cohen's kappa (hand-computed below).

The judge is a fake model that echoes its prompt; each case's input carries the verdict JSON, so the
model under test (also an echo) repeats it and the judge's answer contains it: a judge whose
verdicts the test controls, going through the real gateway and the real judge scorer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.eval_support import db_rows, invoke, run_cli, write_suite

pytestmark = pytest.mark.integration

JUDGE_VERDICTS = ["pass"] * 5 + ["fail"] * 3
# Human labels per judge verdict: of the judge's 5 passes humans pass 4; of its 3 fails, 1.
HUMAN = {"pass": ["pass", "pass", "pass", "pass", "fail"], "fail": ["pass", "fail", "fail"]}


def review(*args: str) -> Any:
    return invoke("review", *args)


def test_review_queue_and_judge_agreement(tmp_path: Path) -> None:
    config = {
        "storage": {"url": f"sqlite:///{tmp_path / 'ph.db'}"},
        "providers": {"echo": {"type": "fake", "echo": True}},
        "models": [
            {"name": "bot", "provider": "echo", "upstream": "m"},
            {"name": "judge-model", "provider": "echo", "upstream": "j"},
        ],
    }
    cfg = str(tmp_path / "pilothouse.yaml")
    Path(cfg).write_text(yaml.safe_dump(config))
    cases = [
        {"id": f"c{i}", "input": f'Case {i}: {{"verdict": "{verdict}", "reason": "scripted"}}'}
        for i, verdict in enumerate(JUDGE_VERDICTS)
    ]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    judge = {"model": "judge-model", "rubric": "Is the reply helpful?", "mode": "pass_fail"}
    write_suite(tmp_path / "suite.yaml", name="calibration", models=["bot"], scorers=[
        {"scorer": "judge", "options": judge},
    ])  # fmt: skip
    run_cli("eval", "run", "suite.yaml", "-c", cfg, cwd=tmp_path)
    db = tmp_path / "ph.db"
    (run_id,) = db_rows(db, "SELECT run_id FROM eval_runs")[0]

    sampled = run_cli(
        "review", "sample", "--run", run_id, "--n", "8", "--scorer", "judge", "-c", cfg, cwd=tmp_path
    )
    assert "Sampled 8 item(s); 8 new" in sampled.stdout
    again = review("sample", "--run", run_id, "--n", "8", "-c", cfg)
    assert "0 new" in again.stdout

    shown = review("next", "-c", cfg)
    assert "review item" in shown.stdout and "pilothouse review label" in shown.stdout
    assert "scripted" in shown.stdout  # the output under review

    judged = db_rows(
        db,
        "SELECT i.item_id, s.passed FROM review_items i JOIN eval_scores s"
        " ON s.run_id = i.run_id AND s.case_id = i.case_id AND s.target_id = i.target_id"
        " WHERE s.scorer = 'judge' ORDER BY i.case_id",
    )
    assert sorted(p for _, p in judged) == [0, 0, 0, 1, 1, 1, 1, 1]
    remaining = {"pass": list(HUMAN["pass"]), "fail": list(HUMAN["fail"])}
    for item_id, passed in judged:
        label = remaining["pass" if passed else "fail"].pop()
        labelled = review("label", item_id, label, "--comment", "checked", "--reviewer", "ana", "-c", cfg)
        assert labelled.returncode == 0, labelled.stdout
    assert review("next", "-c", cfg).stdout.strip() == "The review queue is empty."

    agreement = review("agreement", "--run", run_id, "--scorer", "judge", "-c", cfg)
    out = agreement.stdout
    # tp 4, fp 1, fn 1, tn 2: p_o = 6/8 = 0.75; both pass 5/8, so p_e = (5/8)^2 + (3/8)^2 = 0.53125;
    # kappa = (0.75 - 0.53125) / (1 - 0.53125) = 7/15 = 0.467.
    assert "judge vs human labels (n=8)" in out
    assert "judge pass │ 4          │ 1" in out and "judge fail │ 1          │ 2" in out
    assert "observed agreement 0.750, chance agreement 0.531, Cohen's kappa 0.467 (moderate)" in out

    bad = review("label", "nope", "maybe", "-c", cfg)
    assert bad.returncode == 2

    # Production traces (here the eval's own, which the gateway stored with their payloads).
    traces = review("sample", "--traces", "--since", "1h", "--n", "3", "-c", cfg)
    assert "3 new" in traces.stdout
    pending = review("list", "--pending", "-c", cfg)
    queued = db_rows(
        db, "SELECT item_id, trace_id FROM review_items WHERE source = 'trace' AND label IS NULL"
    )
    assert len(queued) == 3 and all(item_id in pending.stdout for item_id, _ in queued)
