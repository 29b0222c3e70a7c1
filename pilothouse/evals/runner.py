"""Running a suite: every case x target x repeat through the gateway, scored, saved as it finishes.

Resumable: each item's result is saved the moment it is scored, so after an interruption (Ctrl-C, a
killed CI job) the run's finished items are in the store. ``prepare_run`` picks the run back up, by
id (``--resume RUN_ID``) or automatically (the newest unfinished run of the same suite with the same
content hash), with the targets it pinned at its start; ``execute`` skips every item that already
has a successful result in that run, so nothing that finished is sent again.

Cached: see ``evals.cache``. An item whose output key has a stored successful output (from any run)
reuses it, and its scores where their keys match: no request, no spend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, Protocol

from pilothouse.core.config import ModelConfig
from pilothouse.core.errors import ConfigError, PermissionDenied
from pilothouse.core.eval_records import EvalResultRecord, EvalRunRecord, EvalTarget
from pilothouse.core.ids import new_id
from pilothouse.core.ports import EvalStore, PromptStore
from pilothouse.core.pricing import cost_of
from pilothouse.core.types import Usage
from pilothouse.evals.cache import output_key
from pilothouse.evals.dataset import Case
from pilothouse.evals.scoring import BoundScorer, bind_scorers, failed_scores, score_output
from pilothouse.evals.suite import Suite
from pilothouse.evals.targets import pin_targets, request_body
from pilothouse.evals.types import ChatReply, ModelAccess, Output

NANO = Decimal(1_000_000_000)
Outcome = Literal["sent", "cached", "error"]


class Progress(Protocol):
    def start(self, total: int, completed: int, description: str) -> None: ...

    def advance(self, outcome: Outcome) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, total: int, completed: int, description: str) -> None:
        pass

    def advance(self, outcome: Outcome) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class RunOptions:
    gate: bool = False
    use_cache: bool = True
    resume: str | None = None  # a run id
    auto_resume: bool = True  # else always start a new run
    repeat: int | None = None  # overrides the suite's
    concurrency: int | None = None


@dataclass
class Counts:
    resumed: int = 0  # finished before this invocation (a resumed run)
    sent: int = 0
    cached: int = 0
    errors: int = 0
    scored: int = 0  # scores computed (the rest reused)
    spend_nanousd: int = 0  # what this invocation's requests cost


@dataclass
class Prepared:
    run: EvalRunRecord
    resumed: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    case: Case
    target: EvalTarget
    repeat: int
    body: dict[str, object]
    key: str


async def prepare_run(
    suite: Suite, store: EvalStore, prompts: PromptStore | None, options: RunOptions
) -> Prepared:
    """The run to continue (``--resume``, or the newest unfinished run of this exact suite) or a new one."""
    if options.resume:
        run = await store.get_eval_run(options.resume)
        if run is None:
            raise ConfigError(f"no eval run {options.resume}", path="--resume")
        if run.suite_hash != suite.hash:
            raise ConfigError(
                f"run {run.run_id} was made from a different version of the suite or its dataset;"
                " start a new run instead",
                source=str(suite.path),
            )
        if run.gate != options.gate:
            # A gated run pins baseline targets at its start: the flag cannot change halfway.
            flag = "with" if run.gate else "without"
            raise ConfigError(
                f"run {run.run_id} was started {flag} --gate: resume it the same way", path="--resume"
            )
        return Prepared(run, resumed=True)
    if options.auto_resume:
        unfinished = await store.list_eval_runs(
            suite=suite.name, statuses=["running", "interrupted"], limit=10
        )
        for run in unfinished:
            if run.suite_hash == suite.hash and run.gate == options.gate:
                return Prepared(run, resumed=True)
    matrix = await pin_targets(suite, prompts, gate=options.gate)
    config = suite.config
    run = EvalRunRecord(
        run_id=new_id(),
        suite=suite.name,
        suite_path=str(suite.path),
        suite_hash=suite.hash,
        created_at=datetime.now(UTC),
        gate=options.gate,
        targets=matrix.targets,
        spec={
            "suite": config.model_dump(mode="json"),
            "repeat": options.repeat or config.repeat,
            "concurrency": options.concurrency or config.concurrency,
            "baselines": matrix.baselines,
            "cases": len(suite.cases),
        },
    )
    run.total = len(suite.cases) * len(run.targets) * int(run.spec["repeat"])
    await store.save_eval_run(run)
    return Prepared(run, resumed=False, notes=matrix.notes)


def _cost(usage: Usage, served: str | None, prices: Mapping[str, ModelConfig] | None) -> Decimal | None:
    model = (prices or {}).get(served or "")
    return cost_of(usage, model) if model is not None else None


class Runner:
    def __init__(
        self,
        suite: Suite,
        store: EvalStore,
        models: ModelAccess,
        *,
        prices: Mapping[str, ModelConfig] | None = None,
        fingerprints: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.suite = suite
        self.store = store
        self.models = models
        self.prices = prices
        self.fingerprints = fingerprints or {}
        self.progress = progress or NoProgress()
        self.scorers: list[BoundScorer] = bind_scorers(suite)
        self.counts = Counts()

    def items(self, run: EvalRunRecord) -> list[Item]:
        params = self.suite.config.params
        out = []
        for case in self.suite.cases:
            for target in run.targets:
                body = request_body(case, target, params)
                for repeat in range(int(run.spec.get("repeat", 1))):
                    key = output_key(body, target, repeat, self.fingerprints.get(target.model))
                    out.append(Item(case, target, repeat, body, key))
        return out

    async def execute(self, run: EvalRunRecord, *, use_cache: bool = True) -> list[EvalResultRecord]:
        """Run what is left of ``run``; marks it finished, or interrupted if cancelled midway."""
        items = self.items(run)
        done = {
            (r.case_id, r.target_id, r.repeat)
            for r in await self.store.eval_results(run.run_id)
            if r.status == "ok"
        }
        pending = [i for i in items if (i.case.id, i.target.target_id, i.repeat) not in done]
        self.counts.resumed = len(items) - len(pending)
        cached = await self.store.cached_eval_results([i.key for i in pending]) if use_cache else {}
        if run.status != "running":
            run.status = "running"
            await self.store.save_eval_run(run)
        self.progress.start(len(items), self.counts.resumed, f"{self.suite.name} ({run.run_id[-8:]})")
        queue: asyncio.Queue[Item] = asyncio.Queue()
        for item in pending:
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                item = queue.get_nowait()
                await self._one(run, item, cached.get(item.key))

        workers = int(run.spec.get("concurrency", self.suite.config.concurrency))
        try:
            async with asyncio.TaskGroup() as tasks:
                for _ in range(min(workers, max(1, len(pending)))):
                    tasks.create_task(worker())
        except BaseExceptionGroup as group:  # a worker failed (not a cancellation): surface its error
            await self._interrupted(run)
            raise group.exceptions[0] from None
        except BaseException:
            await self._interrupted(run)
            raise
        finally:
            self.progress.stop()
        run.status = "finished"
        run.finished_at = datetime.now(UTC)
        await self.store.save_eval_run(run)
        return await self.store.eval_results(run.run_id)

    async def _interrupted(self, run: EvalRunRecord) -> None:
        """Cancelled (Ctrl-C) or failed: what finished is saved; the run stays resumable."""
        run.status = "interrupted"
        await asyncio.shield(self.store.save_eval_run(run))

    async def _one(self, run: EvalRunRecord, item: Item, hit: EvalResultRecord | None) -> None:
        outcome: Outcome
        if hit is not None:
            output = Output.from_stored(hit.output, latency_ms=hit.latency_ms, trace_id=hit.trace_id)
            outcome, error, cost_nanos, stored = "cached", None, hit.cost_nanousd, hit.scores
        else:
            reply = await self.models.chat(dict(item.body))
            if reply.status in (401, 403):
                # The key, not the target: every case would fail the same way, so stop (resumable).
                raise PermissionDenied(f"the gateway refused the eval's key: {reply.error}")
            output = self._output(reply)
            error = reply.error
            outcome = "error" if error else "sent"
            cost_nanos = int((output.cost_usd or Decimal(0)) * NANO)
            self.counts.spend_nanousd += cost_nanos
            stored = []
        if error:
            scores, computed = failed_scores(self.scorers, error), 0
        else:
            scores, computed = await score_output(
                self.scorers,
                case=item.case,
                target=item.target,
                output=output,
                output_key=item.key,
                models=self.models,
                stored=stored,
            )
        result = EvalResultRecord(
            run_id=run.run_id,
            case_id=item.case.id,
            target_id=item.target.target_id,
            repeat=item.repeat,
            cache_key=item.key,
            status="error" if error else "ok",
            # The input and expectation travel with the result: reviews and reports read them there.
            output={
                **output.stored(),
                "input": item.case.input_text,
                "expected": item.case.expected,
                "metadata": item.case.metadata,
            },
            error=error,
            trace_id=output.trace_id,
            latency_ms=output.latency_ms,
            cost_nanousd=cost_nanos,
            cached=hit is not None,
            created_at=datetime.now(UTC),
            scores=scores,
        )
        await self.store.save_eval_result(result)
        self.counts.scored += computed
        if outcome == "sent":
            self.counts.sent += 1
        elif outcome == "cached":
            self.counts.cached += 1
        else:
            self.counts.errors += 1
        self.progress.advance(outcome)

    def _output(self, reply: ChatReply) -> Output:
        usage = Usage.from_openai(reply.body.get("usage"))
        served = reply.body.get("model")
        served = served if isinstance(served, str) else None
        return Output(
            text=reply.text,
            tool_calls=list(reply.message.get("tool_calls") or []),
            finish_reason=(reply.body.get("choices") or [{}])[0].get("finish_reason"),
            served_model=served,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_ms=reply.latency_ms,
            cost_usd=_cost(usage, served, self.prices) if reply.ok else None,
            trace_id=reply.trace_id,
        )
