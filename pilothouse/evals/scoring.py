"""Scoring one output with every scorer of the suite, reusing stored scores whose key is unchanged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pilothouse.core.eval_records import EvalScoreRecord, EvalTarget
from pilothouse.evals.cache import score_key
from pilothouse.evals.dataset import Case
from pilothouse.evals.suite import Suite
from pilothouse.evals.types import ModelAccess, Output, Score, ScoreContext

log = logging.getLogger("pilothouse.evals")


@dataclass(frozen=True)
class BoundScorer:
    name: str
    type: str
    options: object
    run: Callable[[ScoreContext], Awaitable[Score]]


def bind_scorers(suite: Suite) -> list[BoundScorer]:
    """Each scorer built once per run from its validated options."""
    bound = []
    for spec in suite.config.scorers:
        definition, options = suite.scorers[spec.name]
        bound.append(BoundScorer(spec.name, spec.scorer, options, definition.build(options)))
    return bound


def failed_scores(scorers: Sequence[BoundScorer], why: str) -> list[EvalScoreRecord]:
    """A case without an output fails every scorer: an error must never look like a pass."""
    return [
        EvalScoreRecord(
            scorer=s.name, score_key="", value=0.0, passed=False, reason=f"no output: {why}"[:500]
        )
        for s in scorers
    ]


async def score_output(
    scorers: Sequence[BoundScorer],
    *,
    case: Case,
    target: EvalTarget,
    output: Output,
    output_key: str,
    models: ModelAccess | None,
    stored: Sequence[EvalScoreRecord] = (),
) -> tuple[list[EvalScoreRecord], int]:
    """Scores in suite order, and how many were computed (the rest came from ``stored``)."""
    ctx = ScoreContext(case=case, output=output, target=target, models=models)
    reusable = {s.score_key: s for s in stored if "error" not in s.details}
    expectations = case.expectations()
    out: list[EvalScoreRecord] = []
    computed = 0
    for scorer in scorers:
        key = score_key(output_key, scorer.type, scorer.options, expectations)
        hit = reusable.get(key)
        if hit is not None:
            out.append(hit.model_copy(update={"scorer": scorer.name}))
            continue
        computed += 1
        try:
            score = await scorer.run(ctx)
        except Exception as exc:  # one broken scorer must not lose the case's other scores
            log.warning("scorer %s failed on case %s: %r", scorer.name, case.id, exc)
            score = Score(
                0.0, False, f"scorer failed: {type(exc).__name__}: {exc}"[:500], {"error": str(exc)}
            )
        out.append(
            EvalScoreRecord(
                scorer=scorer.name,
                score_key=key,
                value=score.value,
                passed=score.passed,
                reason=score.reason[:2000],
                details=score.details,
            )
        )
    return out, computed
