"""Judge calibration math against values computed by hand, and review sampling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pilothouse.core.eval_records import (
    EvalResultRecord,
    EvalRunRecord,
    EvalScoreRecord,
    EvalTarget,
    ReviewItemRecord,
)
from pilothouse.core.records import TraceRecord
from pilothouse.evals.review import (
    Confusion,
    cohen_kappa,
    confusion,
    items_from_results,
    items_from_traces,
    kappa_strength,
    labelled_pairs,
    sample_results,
)

pytestmark = pytest.mark.unit


def pairs(tp: int, fp: int, fn: int, tn: int) -> list[tuple[bool, bool]]:
    """(judge, human): tp both pass, fp judge pass / human fail, fn judge fail / human pass, tn both fail."""
    return [(True, True)] * tp + [(True, False)] * fp + [(False, True)] * fn + [(False, False)] * tn


def test_confusion_counts_each_cell() -> None:
    assert confusion(pairs(9, 3, 2, 6)) == Confusion(9, 3, 2, 6)
    assert confusion([]).n == 0


def test_kappa_on_a_hand_computed_calibration_set() -> None:
    # 20 items: judge passes 12 (0.60), humans pass 11 (0.55), they agree on 9 + 6 = 15.
    # p_o = 15/20 = 0.75; p_e = 0.60 * 0.55 + 0.40 * 0.45 = 0.33 + 0.18 = 0.51
    # kappa = (0.75 - 0.51) / (1 - 0.51) = 0.24 / 0.49 = 0.489795918...
    matrix = confusion(pairs(9, 3, 2, 6))
    assert matrix.observed_agreement == pytest.approx(0.75)
    assert matrix.chance_agreement == pytest.approx(0.51)
    assert cohen_kappa(matrix) == pytest.approx(0.24 / 0.49)
    assert kappa_strength(cohen_kappa(matrix)) == "moderate"


def test_kappa_textbook_example() -> None:
    # The common 50-item example: 20 both yes, 5 judge-only yes, 10 human-only yes, 15 both no.
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = 0.2 / 0.5 = 0.4 ("fair").
    kappa = cohen_kappa(confusion(pairs(20, 5, 10, 15)))
    assert kappa == pytest.approx(0.4)
    assert kappa_strength(kappa) == "fair"


def test_kappa_extremes() -> None:
    assert cohen_kappa(confusion(pairs(5, 0, 0, 5))) == pytest.approx(1.0)
    assert cohen_kappa(confusion(pairs(0, 5, 5, 0))) == pytest.approx(-1.0)
    assert kappa_strength(-1.0) == "poor" and kappa_strength(0.95) == "almost perfect"
    # Agreement by chance alone: judge passes everything, humans half -> p_o = p_e = 0.5.
    assert cohen_kappa(confusion(pairs(5, 5, 0, 0))) == pytest.approx(0.0)
    # One label on both sides: chance agreement is 1 and kappa is undefined.
    assert cohen_kappa(confusion(pairs(8, 0, 0, 0))) is None
    assert cohen_kappa(confusion([])) is None
    assert kappa_strength(None) == "undefined"


def result(case: str, passed: bool | None, status: str = "ok", repeat: int = 0) -> EvalResultRecord:
    scores = (
        []
        if passed is None
        else [EvalScoreRecord(scorer="judge", score_key="k", value=float(passed), passed=passed)]
    )
    return EvalResultRecord(
        run_id="r1",
        case_id=case,
        target_id="t",
        repeat=repeat,
        cache_key=case,
        status=status,
        output={"text": f"out {case}", "input": f"in {case}", "expected": "x"},
        trace_id=f"tr-{case}",
        created_at=datetime.now(UTC),
        scores=scores,
    )


def test_sampling_balances_judge_verdicts_and_is_seeded() -> None:
    results = [result(f"p{i}", True) for i in range(18)] + [result("f1", False), result("f2", False)]
    results.append(result("err", None, status="error"))
    picked = sample_results(results, 6, seed=1, scorer="judge")
    assert len(picked) == 6
    assert sum(1 for r in picked if r.case_id.startswith("f")) == 2  # both rare fails are in
    assert [r.case_id for r in sample_results(results, 6, seed=1, scorer="judge")] == [
        r.case_id for r in picked
    ]
    plain = sample_results(results, 100, seed=3)
    assert len(plain) == 20 and all(r.status == "ok" for r in plain)


def test_items_and_labelled_pairs() -> None:
    run = EvalRunRecord(
        run_id="r1", suite="s", suite_hash="h", created_at=datetime.now(UTC),
        targets=[EvalTarget(target_id="t", model="m")],
    )  # fmt: skip
    results = [result("a", True), result("b", False), result("c", True), result("d", None)]
    items = items_from_results(run, results)
    assert items[0].payload == {
        "suite": "s",
        "target": "m",
        "input": "in a",
        "output": "out a",
        "expected": "x",
    }
    labels = {"a": "pass", "b": "pass", "c": "fail", "d": "pass"}
    labelled = [i.model_copy(update={"label": labels[i.case_id or ""]}) for i in items]
    labelled.append(
        ReviewItemRecord(item_id="x", source="run", run_id="r1", case_id="gone", created_at=run.created_at)
    )
    # d has no judge score; the unlabelled extra item is skipped.
    assert labelled_pairs(labelled, results, "judge") == [(True, True), (False, True), (True, False)]


def test_trace_items_keep_only_successful_chat_traces_with_payloads() -> None:
    now = datetime.now(UTC)
    traces = [
        TraceRecord(
            trace_id="t1", created_at=now, endpoint="chat.completions", route="support",
            messages=[{"role": "user", "content": "hi"}], output={"role": "assistant", "content": "hello"},
            prompt="support-reply", prompt_version=2,
        ),
        TraceRecord(trace_id="t2", created_at=now, endpoint="chat.completions", status="error"),
        TraceRecord(trace_id="t3", created_at=now, endpoint="embeddings", output=[1]),
        TraceRecord(trace_id="t4", created_at=now, endpoint="chat.completions"),  # payload not stored
    ]  # fmt: skip
    items = items_from_traces(traces, 10, seed=0)
    assert [i.trace_id for i in items] == ["t1"]
    assert items[0].payload["input"] == "user: hi" and items[0].payload["output"] == "hello"
    assert items[0].payload["prompt"] == "support-reply@2" and items[0].source == "trace"
