"""One ``eval run`` end to end, on an open store and a reachable gateway: prepare (or resume) the run,
execute it, apply the gate, record the gate evidence and the run's summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pilothouse.core.config import ModelConfig
from pilothouse.core.errors import ConfigError
from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord
from pilothouse.core.ports import EvalStore, PromptStore
from pilothouse.evals.client import GatewayClient
from pilothouse.evals.gate import GateOutcome, evaluate_gate, score_table
from pilothouse.evals.runner import Counts, Progress, Runner, RunOptions, prepare_run
from pilothouse.evals.suite import Suite


@dataclass
class RunReport:
    run: EvalRunRecord
    results: list[EvalResultRecord]
    counts: Counts
    resumed: bool
    gate: GateOutcome | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0, or 1 when a gated run did not pass (CI reads this)."""
        return 1 if self.gate is not None and not self.gate.passed else 0


@dataclass(frozen=True)
class GatewayAccess:
    base_url: str
    key: str
    timeout: float | None = None  # default: the suite's


async def run_suite(
    suite: Suite,
    store: EvalStore,
    prompts: PromptStore | None,
    gateway: GatewayAccess,
    options: RunOptions,
    *,
    prices: Mapping[str, ModelConfig] | None = None,
    fingerprints: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    baseline_run: str | None = None,
    on_prepared: Callable[[EvalRunRecord, bool], None] | None = None,
) -> RunReport:
    baseline = None
    if baseline_run is not None:
        base_record = await store.get_eval_run(baseline_run)
        if base_record is None:
            raise ConfigError(f"no eval run {baseline_run}", path="--baseline")
        baseline = (base_record, await store.eval_results(baseline_run))
    prepared = await prepare_run(suite, store, prompts, options)
    run = prepared.run
    if on_prepared is not None:
        on_prepared(run, prepared.resumed)  # the CLI says "resume with ..." if this one is interrupted
    timeout = gateway.timeout or suite.config.timeout
    async with GatewayClient(gateway.base_url, gateway.key, run_id=run.run_id, timeout=timeout) as client:
        runner = Runner(suite, store, client, prices=prices, fingerprints=fingerprints, progress=progress)
        results = await runner.execute(run, use_cache=options.use_cache)
    report = RunReport(run, results, runner.counts, prepared.resumed, notes=list(prepared.notes))
    if run.gate:
        report.gate = evaluate_gate(suite.config, run, results, baseline_run=baseline)
        report.notes += report.gate.notes
        run.gate_passed = report.gate.passed
        for prompt, version in report.gate.versions_passed():
            await store.record_gate_pass(prompt, version, run.run_id)
    counts = runner.counts
    run.summary = {
        "scores": score_table(run, results),
        "invocation": {
            "resumed": counts.resumed,
            "sent": counts.sent,
            "cached": counts.cached,
            "errors": counts.errors,
            "scores_computed": counts.scored,
            "spend_nanousd": counts.spend_nanousd,
        },
        "spend_nanousd": sum(r.cost_nanousd for r in results if not r.cached),
        "errors": sum(1 for r in results if r.status == "error"),
        **({"gate": report.gate.summary()} if report.gate is not None else {}),
    }
    await store.save_eval_run(run)
    return report
