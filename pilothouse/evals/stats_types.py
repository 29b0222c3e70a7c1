"""The data shapes of ``stats``: what the harness passes in and what a comparison returns.

Re-exported by ``pilothouse.evals.stats``; import them from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pilothouse.evals.stats_math import Correction

CaseScores = Mapping[str, Sequence[float]]
"""Case id -> one value per repetition (a single value without ``--repeat``)."""


@dataclass(frozen=True)
class RunScores:
    """One side of a comparison: a run, or one target (prompt version x model) of a run."""

    label: str
    scores: Mapping[str, CaseScores]  # scorer name -> case scores
    slices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # case id -> metadata


@dataclass(frozen=True)
class ScorerSpec:
    """How to read one scorer: its kind, direction and the drop that counts as a regression."""

    kind: Literal["binary", "continuous"] | None = None  # None: binary when every value is 0 or 1
    higher_is_better: bool = True  # False for latency and cost
    tolerance: float = 0.0  # in the scorer's units: a drop smaller than this is not a regression


@dataclass(frozen=True)
class CompareOptions:
    confidence: float = 0.95
    resamples: int = 2000  # bootstrap resamples for the interval of the difference
    permutations: int = 10_000  # sign patterns for the randomization p-value
    seed: int = 0
    correction: Correction = "holm"
    # "split": the all-cases rows (what a gate reads) are one family and the slice rows another, so
    # a breakdown into many slices does not dilute the headline tests; "joint": one family for all.
    families: Literal["split", "joint"] = "split"
    slice_keys: Sequence[str] | None = None  # None: every metadata key found on the cases
    min_slice_cases: int = 5  # smaller slices are shown but not tested (they cannot reach significance)

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence


class Verdict(StrEnum):
    REGRESSION = "regression"
    WITHIN_TOLERANCE = "within tolerance"
    IMPROVEMENT = "improvement"
    NO_CHANGE = "no significant change"
    UNTESTED = "untested"


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Noise:
    """Within-case (sampling or judge) noise of one side, from cases scored more than once."""

    max_repeats: int
    repeated_cases: int  # cases with at least two values
    within_sd: float | None  # pooled SD of the repeats around their case mean; None without repeats
    between_sd: float  # SD of the case means across cases


@dataclass(frozen=True)
class ComparisonRow:
    scorer: str
    slice_key: str | None  # None: all shared cases
    slice_value: str | None
    n: int  # shared cases in this row
    baseline: Estimate
    candidate: Estimate
    diff: Estimate  # candidate - baseline, in the scorer's units
    test: Literal["mcnemar-exact", "sign-flip", "none"]
    p_value: float | None  # None: untested
    p_adjusted: float | None
    significant: bool
    verdict: Verdict
    discordant: tuple[int, int] | None  # (baseline-only passes, candidate-only passes) for McNemar
    noise_se: float | None  # SE of the difference that repeat noise alone would produce
    higher_is_better: bool
    tolerance: float


@dataclass(frozen=True)
class Comparison:
    baseline: str
    candidate: str
    options: CompareOptions
    rows: list[ComparisonRow]
    noise: dict[str, dict[str, Noise]]  # scorer -> side label -> noise
    only_baseline: int
    only_candidate: int

    @property
    def regressions(self) -> list[ComparisonRow]:
        return [r for r in self.rows if r.verdict is Verdict.REGRESSION]

    def overall(self, scorer: str) -> ComparisonRow | None:
        return next((r for r in self.rows if r.scorer == scorer and r.slice_key is None), None)
