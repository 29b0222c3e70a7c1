"""Human review and judge calibration: sampling cases into a queue, and agreement between an LLM
judge's pass/fail and human labels (Cohen's kappa and the confusion matrix).

Reviewers label blind: an item shows the input, the output and the expected answer, never the
judge's verdict, so the labels can measure the judge instead of echoing it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord, ReviewItemRecord
from pilothouse.core.ids import new_id
from pilothouse.core.records import TraceRecord


@dataclass(frozen=True)
class Confusion:
    """Rows: the judge's verdict; columns: the human label (the reference)."""

    judge_pass_human_pass: int
    judge_pass_human_fail: int
    judge_fail_human_pass: int
    judge_fail_human_fail: int

    @property
    def n(self) -> int:
        return (
            self.judge_pass_human_pass
            + self.judge_pass_human_fail
            + self.judge_fail_human_pass
            + self.judge_fail_human_fail
        )

    @property
    def observed_agreement(self) -> float:
        return (self.judge_pass_human_pass + self.judge_fail_human_fail) / self.n if self.n else 0.0

    @property
    def chance_agreement(self) -> float:
        """Agreement expected if judge and human labelled independently at their own pass rates."""
        if not self.n:
            return 0.0
        judge_pass = (self.judge_pass_human_pass + self.judge_pass_human_fail) / self.n
        human_pass = (self.judge_pass_human_pass + self.judge_fail_human_pass) / self.n
        return judge_pass * human_pass + (1 - judge_pass) * (1 - human_pass)


def confusion(pairs: Iterable[tuple[bool, bool]]) -> Confusion:
    """From (judge passed, human passed) pairs."""
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for judge, human in pairs:
        counts[(bool(judge), bool(human))] += 1
    return Confusion(
        counts[(True, True)], counts[(True, False)], counts[(False, True)], counts[(False, False)]
    )


def cohen_kappa(matrix: Confusion) -> float | None:
    """(p_o - p_e) / (1 - p_e); None when undefined (no items, or both raters gave one label only)."""
    if not matrix.n:
        return None
    chance = matrix.chance_agreement
    if chance >= 1.0:
        return None
    return (matrix.observed_agreement - chance) / (1 - chance)


def kappa_strength(kappa: float | None) -> str:
    """Landis and Koch's bands, the usual reading of kappa."""
    if kappa is None:
        return "undefined"
    for upper, word in (
        (0.0, "poor"),
        (0.2, "slight"),
        (0.4, "fair"),
        (0.6, "moderate"),
        (0.8, "substantial"),
    ):
        if kappa <= upper:
            return word
    return "almost perfect"


def sample_results(
    results: Sequence[EvalResultRecord], n: int, *, seed: int, scorer: str | None = None
) -> list[EvalResultRecord]:
    """``n`` successful results at random; with ``scorer``, alternating its passes and fails so a
    calibration set holds both verdicts even when the judge rarely fails."""
    rng = random.Random(seed)
    pool = [r for r in results if r.status == "ok"]
    rng.shuffle(pool)
    if scorer is None:
        return pool[:n]
    strata: dict[bool | None, list[EvalResultRecord]] = {True: [], False: [], None: []}
    for r in pool:
        s = r.score(scorer)
        strata[s.passed if s is not None else None].append(r)
    picked: list[EvalResultRecord] = []
    while len(picked) < n and any(strata.values()):
        for key in (False, True, None):
            if strata[key] and len(picked) < n:
                picked.append(strata[key].pop())
    return picked


def items_from_results(run: EvalRunRecord, results: Sequence[EvalResultRecord]) -> list[ReviewItemRecord]:
    labels = {t.target_id: t.label for t in run.targets}
    now = datetime.now(UTC)
    return [
        ReviewItemRecord(
            item_id=new_id(),
            source="run",
            run_id=run.run_id,
            case_id=r.case_id,
            target_id=r.target_id,
            repeat=r.repeat,
            trace_id=r.trace_id,
            payload={
                "suite": run.suite,
                "target": labels.get(r.target_id, r.target_id),
                "input": r.output.get("input", ""),
                "output": r.output.get("text", ""),
                "expected": r.output.get("expected"),
            },
            created_at=now,
        )
        for r in results
    ]


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("content") or "")
    if isinstance(value, list):
        return "\n".join(
            f"{m.get('role')}: {m.get('content')}" if isinstance(m, dict) else str(m) for m in value
        )
    return "" if value is None else str(value)


def items_from_traces(traces: Sequence[TraceRecord], n: int, *, seed: int) -> list[ReviewItemRecord]:
    """Successful chat traces that kept their payloads (``storage.store_payloads`` not ``none``)."""
    pool = [
        t for t in traces if t.endpoint == "chat.completions" and t.status == "ok" and t.output is not None
    ]
    random.Random(seed).shuffle(pool)
    now = datetime.now(UTC)
    return [
        ReviewItemRecord(
            item_id=new_id(),
            source="trace",
            trace_id=t.trace_id,
            payload={
                "target": t.route or t.requested_model or "",
                "prompt": f"{t.prompt}@{t.prompt_version}" if t.prompt else None,
                "input": _text(t.messages),
                "output": _text(t.output),
                "expected": None,
            },
            created_at=now,
        )
        for t in pool[:n]
    ]


def labelled_pairs(
    items: Sequence[ReviewItemRecord], results: Sequence[EvalResultRecord], scorer: str
) -> list[tuple[bool, bool]]:
    """(judge passed, human passed) for each labelled item whose result the scorer judged."""
    index = {(r.case_id, r.target_id, r.repeat): r for r in results}
    pairs = []
    for item in items:
        if item.label is None:
            continue
        result = index.get((item.case_id or "", item.target_id or "", item.repeat))
        score = result.score(scorer) if result is not None else None
        if score is None or score.passed is None:
            continue
        pairs.append((score.passed, item.label == "pass"))
    return pairs
