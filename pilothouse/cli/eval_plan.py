"""``pilothouse eval plan``: how many cases a suite needs to detect a given change.

Registered on the ``eval`` command group (``pilothouse/cli/eval.py``) as ``app.command("plan")(plan)``.
"""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from pilothouse.cli.common import console, fail
from pilothouse.evals.plan import Plan, paired_sd, plan_mean, plan_pass_rate


def plan(
    pass_rate: Annotated[
        tuple[float, float] | None,
        typer.Option(help="pass/fail: baseline and expected candidate pass rate, e.g. --pass-rate 0.6 0.7"),
    ] = None,
    discordant: Annotated[
        float | None,
        typer.Option(help="pass/fail: share of cases whose outcome differs (default: assume independence)"),
    ] = None,
    mean_change: Annotated[
        float | None, typer.Option(help="continuous: the change in mean score to detect, e.g. 0.05")
    ] = None,
    sd: Annotated[float | None, typer.Option(help="continuous: SD of the score across cases")] = None,
    correlation: Annotated[
        float, typer.Option(help="continuous: correlation of a case's scores on the two sides")
    ] = 0.5,
    sd_diff: Annotated[
        float | None,
        typer.Option(help="continuous: SD of per-case differences without repeat noise (instead of --sd)"),
    ] = None,
    within_sd: Annotated[
        float, typer.Option(help="continuous: SD between repeats of one case (sampling noise)")
    ] = 0.0,
    repeat: Annotated[
        int, typer.Option(min=1, help="repeats per case (they average out sampling noise)")
    ] = 1,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="two-sided significance level")] = 0.05,
    power: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="probability of detecting the change")
    ] = 0.8,
    tests: Annotated[
        int, typer.Option(min=1, help="scorers compared at once (alpha is split, Bonferroni)")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Cases needed to detect a change in pass rate (exact McNemar) or in a mean score (paired t)."""
    if (pass_rate is None) == (mean_change is None):
        fail("give either --pass-rate BASELINE CANDIDATE or --mean-change (with --sd or --sd-diff)", 2)
    try:
        if pass_rate is not None:
            result = plan_pass_rate(*pass_rate, discordant=discordant, alpha=alpha, power=power, tests=tests)
            target = f"pass rate {pass_rate[0]:.3f} -> {pass_rate[1]:.3f}"
        else:
            assert mean_change is not None
            if sd_diff is None:
                if sd is None:
                    fail("--mean-change needs --sd (with --correlation) or --sd-diff", 2)
                sd_diff = paired_sd(sd, correlation, within_sd, repeat)
            elif within_sd:
                sd_diff = (sd_diff**2 + 2 * within_sd**2 / repeat) ** 0.5
            result = plan_mean(mean_change, sd_diff, alpha=alpha, power=power, tests=tests)
            target = f"mean change {mean_change:+g} (SD of differences {sd_diff:.3f})"
    except ValueError as exc:
        fail(str(exc), 2)
    _print(result, target, power, as_json)


def _print(result: Plan, target: str, power: float, as_json: bool) -> None:
    if as_json:
        payload = {"target": target, "cases": result.cases, "power": result.power, "alpha": result.alpha}
        console.print_json(orjson.dumps({**payload, "method": result.method, "notes": result.notes}).decode())
        return
    console.print(f"[bold]{result.cases}[/] cases to detect {target}", highlight=False)
    console.print(
        f"  power {result.power:.3f} (asked {power}) at alpha {result.alpha:.4g}, two-sided; {result.method}",
        highlight=False,
    )
    for note in result.notes:
        console.print(f"  [dim]{note}[/]", highlight=False)
