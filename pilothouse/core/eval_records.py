"""Stored eval records: runs, per-case results with their scores, review items.

They live in ``core`` because the ``EvalStore`` port names them and both the store backends and the
eval harness use them. Money is integer nano-USD, as on traces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EVAL_SCHEMA_VERSION = 1

RunStatus = Literal["running", "interrupted", "finished", "failed"]
ReviewLabel = Literal["pass", "fail"]


class EvalTarget(BaseModel):
    """One combination of the suite's matrix, pinned when the run starts.

    ``ref`` is what the suite said (``production``, ``3``); ``version`` is what it resolved to, so a
    label moving mid-run cannot mix two versions into one target. ``role`` is ``baseline`` for the
    production versions a gated run adds to compare against.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    target_id: str
    model: str
    prompt: str | None = None
    ref: str | None = None
    version: int | None = None
    content_hash: str | None = Field(None, description="the prompt version's content hash")
    role: Literal["candidate", "baseline"] = "candidate"

    @property
    def label(self) -> str:
        if self.prompt is None:
            return self.model
        pinned = f"{self.prompt}@{self.ref}" + (
            f" (v{self.version})" if str(self.version) != self.ref else ""
        )
        return f"{pinned} x {self.model}"


class EvalRunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int = EVAL_SCHEMA_VERSION
    run_id: str
    suite: str
    suite_path: str = ""
    suite_hash: str
    status: RunStatus = "running"
    created_at: datetime
    finished_at: datetime | None = None
    gate: bool = False
    gate_passed: bool | None = None
    targets: list[EvalTarget] = Field(default_factory=list)
    total: int = Field(0, description="case x target x repeat items the run must finish")
    spec: dict[str, Any] = Field(default_factory=dict, description="the suite as run (for show/compare)")
    summary: dict[str, Any] = Field(default_factory=dict, description="gate outcome, spend, counts")


class EvalScoreRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scorer: str
    score_key: str = Field(description="content hash of output, case expectations and scorer config")
    value: float
    passed: bool | None = None
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class EvalResultRecord(BaseModel):
    """One case x target x repeat: the output the gateway gave and how each scorer judged it."""

    model_config = ConfigDict(extra="forbid")
    run_id: str
    case_id: str
    target_id: str
    repeat: int = 0
    cache_key: str
    status: Literal["ok", "error"] = "ok"
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    trace_id: str | None = None
    latency_ms: float = 0.0
    cost_nanousd: int = Field(0, description="what producing the output cost (also when reused)")
    cached: bool = Field(False, description="reused from an earlier result: no request, no spend")
    created_at: datetime
    scores: list[EvalScoreRecord] = Field(default_factory=list)

    def score(self, scorer: str) -> EvalScoreRecord | None:
        return next((s for s in self.scores if s.scorer == scorer), None)


class ReviewItemRecord(BaseModel):
    """A case or production trace put in front of a human, with their pass/fail label once given."""

    model_config = ConfigDict(extra="forbid")
    item_id: str
    source: Literal["run", "trace"]
    run_id: str | None = None
    case_id: str | None = None
    target_id: str | None = None
    repeat: int = 0
    trace_id: str | None = None
    payload: dict[str, Any] = Field(
        default_factory=dict, description="input, output, expected: what to judge"
    )
    created_at: datetime
    label: ReviewLabel | None = None
    comment: str | None = None
    reviewer: str | None = None
    labelled_at: datetime | None = None
