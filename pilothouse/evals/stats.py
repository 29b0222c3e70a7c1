"""Paired comparison of two eval runs (or two targets of one run), per scorer and per slice.

Data shape: what the harness passes in
--------------------------------------
One ``RunScores`` per side. Values are floats; pass/fail scorers give 1.0 / 0.0. A case may carry
several values: one per repetition (``--repeat N``), or one per judge repetition of the same output::

    RunScores(
        label="support-reply@2 x smollm2",
        scores={                                   # scorer -> case id -> one value per repeat
            "mentions_refund_window": {"c001": [1.0], "c002": [0.0]},
            "similarity": {"c001": [0.81, 0.77, 0.84], "c002": [0.42, 0.51, 0.40]},
        },
        slices={"c001": {"topic": "billing", "difficulty": "easy"}},   # case id -> metadata
    )
    result = compare(baseline, candidate, specs={"latency_ms": ScorerSpec(higher_is_better=False)})
    result.rows            # ComparisonRow per scorer x (all cases | each slice value)
    result.regressions     # rows whose verdict is Verdict.REGRESSION

Method (defaults in ``CompareOptions``)
---------------------------------------
- Only cases scored on both sides are compared (``only_baseline`` / ``only_candidate`` count the rest).
- Repeats are averaged per case first: the case is the unit of resampling, so N repeats of 50 cases
  are 50 observations, not 50 N. The spread of the repeats (within-case variance) is reported apart
  (``Noise``, ``ComparisonRow.noise_se``): it is the run-to-run noise a re-run would show.
- Mean per side with a 95% interval: Wilson for pass/fail without repeats, t on case means otherwise
  (clipped to the range of the case means, so bounded scores keep bounded intervals).
- Paired difference (candidate - baseline) with a percentile paired-bootstrap interval (cases
  resampled, 2,000 resamples, seeded: the same inputs always give the same report).
- p-value: exact McNemar for pass/fail without repeats; otherwise a paired sign-flip randomization
  test (10,000 sign patterns: p can go down to 1e-4, low enough to survive a correction over ~50 rows).
- Multiple testing: p-values are adjusted across scorers x slices. By default in two families: the
  all-cases rows across scorers (the headline a gate reads) and the slice rows across scorers x
  slices, so adding slices never weakens the headline test (``families="joint"``: one family).
  Holm by default (a false "regression" blocks a release, so control the family-wise error under any
  dependence between scorers), or Benjamini-Hochberg for exploratory breakdowns over many slices.
- Verdict: a REGRESSION is a change that is significant after correction AND whose interval lies
  entirely below ``-tolerance`` (oriented so "below" means worse); a significant drop whose interval
  reaches into the tolerance band is WITHIN_TOLERANCE; a wobble that is not significant is NO_CHANGE.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pilothouse.evals.stats_math import (
    adjust,
    bootstrap_mean_ci,
    mcnemar_exact_p,
    sign_flip_p,
    t_interval,
    wilson_interval,
)
from pilothouse.evals.stats_types import (
    CaseScores,
    CompareOptions,
    Comparison,
    ComparisonRow,
    Estimate,
    Noise,
    RunScores,
    ScorerSpec,
    Verdict,
)

__all__ = [
    "CaseScores",
    "CompareOptions",
    "Comparison",
    "ComparisonRow",
    "Estimate",
    "Noise",
    "RunScores",
    "ScorerSpec",
    "Verdict",
    "case_means",
    "compare",
    "verdict",
    "within_case_noise",
]


def case_means(scores: CaseScores) -> dict[str, float]:
    """Average repeats per case (cases with no values are dropped)."""
    return {cid: float(np.mean(v)) for cid, v in scores.items() if len(v)}


def within_case_noise(scores: CaseScores) -> Noise:
    """Pooled within-case SD (the noise a re-run shows) and between-case SD of the case means.

    Pass a judge's repeated scores of the same outputs to measure the judge's own noise."""
    repeated = [np.asarray(v, dtype=np.float64) for v in scores.values() if len(v) >= 2]
    means = list(case_means(scores).values())
    within: float | None = None
    if repeated:
        # Pooled variance: sum of squared deviations over the pooled degrees of freedom.
        ss = sum(float(((v - v.mean()) ** 2).sum()) for v in repeated)
        dof = sum(v.size - 1 for v in repeated)
        within = math.sqrt(ss / dof)
    return Noise(
        max_repeats=max((len(v) for v in scores.values()), default=0),
        repeated_cases=len(repeated),
        within_sd=within,
        between_sd=float(np.std(means, ddof=1)) if len(means) > 1 else 0.0,
    )


def _is_binary(spec: ScorerSpec, *sides: CaseScores) -> bool:
    if spec.kind is not None:
        return spec.kind == "binary"
    return all(x in (0.0, 1.0) for side in sides for v in side.values() for x in v)


def _noise_var_of_mean(scores: CaseScores, ids: Sequence[str], within_sd: float | None) -> float:
    """Variance of the mean over ``ids`` contributed by repeat noise: sigma_w^2 * mean(1/r_i) / n."""
    if within_sd is None or not ids:
        return 0.0
    inv_r = sum(1.0 / len(scores[i]) for i in ids) / len(ids)
    return within_sd**2 * inv_r / len(ids)


def _rng(opts: CompareOptions, *parts: str | None) -> np.random.Generator:
    # One stream per row, keyed by its name: adding a scorer or slice does not move other rows' numbers.
    key = zlib.crc32("\x1f".join(p or "" for p in parts).encode())
    return np.random.default_rng([opts.seed, key])


def _side_estimate(values: np.ndarray, binary_single: bool, confidence: float) -> Estimate:
    mean = float(values.mean())
    if binary_single:
        lo, hi = wilson_interval(int(values.sum()), values.size, confidence)
    else:
        lo, hi = t_interval(values, confidence)
        # Kept within the range of the case means: a mean cannot leave it, and it keeps bounded
        # scores (rates, similarities in [0, 1]) from showing intervals such as [0.94, 1.01].
        lo, hi = max(lo, float(values.min())), min(hi, float(values.max()))
    return Estimate(mean, lo, hi)


@dataclass(frozen=True)
class _Pair:
    scorer: str
    spec: ScorerSpec
    base: CaseScores
    cand: CaseScores
    base_means: dict[str, float]
    cand_means: dict[str, float]
    binary_single: bool
    noise_base: Noise
    noise_cand: Noise


def _row(
    pair: _Pair, key: str | None, value: str | None, ids: list[str], opts: CompareOptions
) -> ComparisonRow:
    a = np.array([pair.base_means[i] for i in ids], dtype=np.float64)
    b = np.array([pair.cand_means[i] for i in ids], dtype=np.float64)
    d = b - a
    n = len(ids)
    testable = n >= (opts.min_slice_cases if key is not None else 2)
    rng = _rng(opts, pair.scorer, key, value)
    lo, hi = bootstrap_mean_ci(d, rng, opts.confidence, opts.resamples) if n >= 2 else (math.nan, math.nan)
    discordant: tuple[int, int] | None = None
    p: float | None = None
    test: Literal["mcnemar-exact", "sign-flip", "none"] = "none"
    if pair.binary_single:
        discordant = (int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1))))
        if testable:
            p, test = mcnemar_exact_p(*discordant), "mcnemar-exact"
    elif testable:
        p, test = sign_flip_p(d, rng, opts.permutations), "sign-flip"
    noise_var = _noise_var_of_mean(pair.base, ids, pair.noise_base.within_sd) + _noise_var_of_mean(
        pair.cand, ids, pair.noise_cand.within_sd
    )
    has_noise = pair.noise_base.within_sd is not None or pair.noise_cand.within_sd is not None
    return ComparisonRow(
        scorer=pair.scorer,
        slice_key=key,
        slice_value=value,
        n=n,
        baseline=_side_estimate(a, pair.binary_single, opts.confidence),
        candidate=_side_estimate(b, pair.binary_single, opts.confidence),
        diff=Estimate(float(d.mean()), lo, hi),
        test=test,
        p_value=p,
        p_adjusted=None,
        significant=False,
        verdict=Verdict.UNTESTED,
        discordant=discordant,
        noise_se=math.sqrt(noise_var) if has_noise else None,
        higher_is_better=pair.spec.higher_is_better,
        tolerance=pair.spec.tolerance,
    )


def verdict(row: ComparisonRow, significant: bool) -> Verdict:
    """Oriented so that "better" is positive; the interval decides regression versus tolerance."""
    if row.p_value is None:
        return Verdict.UNTESTED
    sign = 1.0 if row.higher_is_better else -1.0
    change, low, high = sign * row.diff.mean, sign * row.diff.low, sign * row.diff.high
    worst = max(low, high)  # the interval's upper end, after orientation
    if not significant:
        return Verdict.NO_CHANGE
    if change > 0:
        return Verdict.IMPROVEMENT
    if worst < -row.tolerance:
        return Verdict.REGRESSION
    return Verdict.WITHIN_TOLERANCE


def _slices(
    run_slices: Sequence[Mapping[str, Mapping[str, str]]], ids: list[str], keys: Sequence[str] | None
) -> list[tuple[tuple[str, str], list[str]]]:
    """(key, value) -> case ids, over the shared cases; metadata from either side (same dataset)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for cid in ids:
        meta: dict[str, str] = {}
        for s in run_slices:
            meta.update({k: str(v) for k, v in s.get(cid, {}).items()})
        for k, v in meta.items():
            if keys is None or k in keys:
                groups.setdefault((k, v), []).append(cid)
    return sorted(groups.items())


def compare(
    baseline: RunScores,
    candidate: RunScores,
    specs: Mapping[str, ScorerSpec] | None = None,
    options: CompareOptions | None = None,
) -> Comparison:
    """Compare ``candidate`` against ``baseline`` on their shared cases, per scorer and slice."""
    opts = options or CompareOptions()
    specs = specs or {}
    rows: list[ComparisonRow] = []
    noise: dict[str, dict[str, Noise]] = {}
    all_base: set[str] = set()
    all_cand: set[str] = set()
    for scorer in sorted(set(baseline.scores) & set(candidate.scores)):
        spec = specs.get(scorer, ScorerSpec())
        base, cand = baseline.scores[scorer], candidate.scores[scorer]
        base_means, cand_means = case_means(base), case_means(cand)
        all_base |= set(base_means)
        all_cand |= set(cand_means)
        ids = sorted(set(base_means) & set(cand_means))
        single = all(len(base[i]) == 1 and len(cand[i]) == 1 for i in ids)
        pair = _Pair(
            scorer, spec, base, cand, base_means, cand_means,
            binary_single=single and _is_binary(spec, base, cand),
            noise_base=within_case_noise({i: base[i] for i in ids}),
            noise_cand=within_case_noise({i: cand[i] for i in ids}),
        )  # fmt: skip
        noise[scorer] = {baseline.label: pair.noise_base, candidate.label: pair.noise_cand}
        if not ids:
            continue
        rows.append(_row(pair, None, None, ids, opts))
        for (key, value), members in _slices((baseline.slices, candidate.slices), ids, opts.slice_keys):
            rows.append(_row(pair, key, value, members, opts))
    rows = _correct(rows, opts)
    return Comparison(
        baseline=baseline.label,
        candidate=candidate.label,
        options=opts,
        rows=rows,
        noise=noise,
        only_baseline=len(all_base - all_cand),
        only_candidate=len(all_cand - all_base),
    )


def _correct(rows: list[ComparisonRow], opts: CompareOptions) -> list[ComparisonRow]:
    """Adjust the p-values of each family of tested rows, then decide significance and verdicts."""
    out = list(rows)
    families = [[i for i, r in enumerate(rows) if r.p_value is not None]]
    if opts.families == "split":
        families = [
            [i for i in families[0] if (rows[i].slice_key is None) is headline] for headline in (True, False)
        ]
    for tested in families:
        adjusted = adjust([rows[i].p_value or 0.0 for i in tested], opts.correction)
        for i, p_adj in zip(tested, adjusted, strict=True):
            significant = p_adj < opts.alpha
            row = rows[i]
            out[i] = replace(
                row, p_adjusted=p_adj, significant=significant, verdict=verdict(row, significant)
            )
    return out
