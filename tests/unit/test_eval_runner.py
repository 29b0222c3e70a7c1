"""The runner's bookkeeping on a real SQLite store with a scripted gateway: resume after a cancel,
the output and score caches, errors, repeats, and targets pinned from the prompt registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pilothouse.bootstrap import build_prompt_registry
from pilothouse.core.errors import PermissionDenied
from pilothouse.evals.runner import Runner, RunOptions, prepare_run
from pilothouse.evals.suite import Suite, load_suite
from pilothouse.evals.targets import pin_targets, request_body
from pilothouse.evals.types import ChatReply
from pilothouse.prompts import PromptSpec
from pilothouse.store import SQLiteStore

pytestmark = pytest.mark.unit


class ScriptedGateway:
    """Answers ``<model>: <last user message>``; can fail chosen inputs, or hold every call after
    the first ``answer`` until ``release`` is set (``held`` is set once ``workers`` calls wait)."""

    def __init__(self, fail: set[str] | None = None, answer: int | None = None, workers: int = 1) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = fail or set()
        self.answer = answer
        self.workers = workers
        self.waiting = 0
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def chat(self, body: dict[str, Any]) -> ChatReply:
        self.bodies.append(body)
        if self.answer is not None and len(self.bodies) > self.answer:
            self.waiting += 1
            if self.waiting >= self.workers:
                self.held.set()  # every worker waits here: all earlier items are saved
            await self.release.wait()
        text = body["messages"][-1]["content"] if body.get("messages") else str(body.get("variables"))
        if text in self.fail:
            return ChatReply(503, {}, "t-err", 1.0, "HTTP 503 upstream_unavailable: down")
        if text == "locked":
            return ChatReply(401, {}, "t-401", 1.0, "HTTP 401 invalid_api_key: bad key")
        answer = {"choices": [{"message": {"content": f"{body['model']}: {text}"}, "finish_reason": "stop"}]}
        answer["model"] = body["model"]
        answer["usage"] = {"prompt_tokens": 3, "completion_tokens": 4}
        return ChatReply(200, answer, f"t-{len(self.bodies)}", 5.0)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        raise AssertionError("not used")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(str(tmp_path / "runs.db"))
    await store.connect()
    yield store
    await store.aclose()


def make_suite(tmp_path: Path, cases: int = 5, **suite: Any) -> Suite:
    lines = "".join(f'{{"id": "c{i}", "input": "q{i}", "expected": "q{i}"}}\n' for i in range(cases))
    (tmp_path / "cases.jsonl").write_text(lines)
    data = {
        "dataset": "cases.jsonl",
        "models": ["small", "large"],
        "scorers": [{"scorer": "contains"}, {"scorer": "regex", "options": {"pattern": "^small"}}],
        **suite,
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data))
    return load_suite(tmp_path / "suite.yaml")


async def test_a_cancelled_run_resumes_without_resending_finished_items(
    tmp_path: Path, store: SQLiteStore
) -> None:
    suite = make_suite(tmp_path, concurrency=2)
    prepared = await prepare_run(suite, store, None, RunOptions())
    assert not prepared.resumed and prepared.run.total == 10
    gateway = ScriptedGateway(answer=4, workers=2)  # then two calls hang in flight, as on a slow gateway
    runner = Runner(suite, store, gateway)
    task = asyncio.create_task(runner.execute(prepared.run))
    await asyncio.wait_for(gateway.held.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = await store.eval_results(prepared.run.run_id)
    run = await store.get_eval_run(prepared.run.run_id)
    assert run is not None and run.status == "interrupted"
    finished = {(r.case_id, r.target_id) for r in saved}
    assert len(finished) == 4 and len(gateway.bodies) == 6

    gateway.answer = None
    again = await prepare_run(suite, store, None, RunOptions())  # automatic: the unfinished run
    assert again.resumed and again.run.run_id == prepared.run.run_id
    sent_before = len(gateway.bodies)
    resumed = Runner(suite, store, gateway)
    results = await resumed.execute(again.run)
    resent = [(b["messages"][-1]["content"], b["model"]) for b in gateway.bodies[sent_before:]]
    assert len(resent) == 10 - len(finished)
    assert not {(f"c{q[1:]}", m) for q, m in resent} & finished
    assert resumed.counts.resumed == len(finished) and len(results) == 10
    final = await store.get_eval_run(prepared.run.run_id)
    assert final is not None and final.status == "finished" and final.finished_at is not None
    # A finished run is not resumed: the next invocation is a new run, answered from cache.
    fresh = await prepare_run(suite, store, None, RunOptions())
    assert not fresh.resumed
    cached = Runner(suite, store, gateway)
    sent_before = len(gateway.bodies)
    await cached.execute(fresh.run)
    assert len(gateway.bodies) == sent_before and cached.counts.cached == 10 and cached.counts.scored == 0


async def test_changed_scorer_options_rescore_stored_outputs_only(tmp_path: Path, store: SQLiteStore) -> None:
    suite = make_suite(tmp_path)
    gateway = ScriptedGateway()
    first = await prepare_run(suite, store, None, RunOptions())
    await Runner(suite, store, gateway).execute(first.run)
    assert len(gateway.bodies) == 10
    changed = make_suite(
        tmp_path, scorers=[{"scorer": "contains"}, {"scorer": "regex", "options": {"pattern": "^large"}}]
    )
    assert changed.hash != suite.hash
    second = await prepare_run(changed, store, None, RunOptions())
    runner = Runner(changed, store, gateway)
    results = await runner.execute(second.run)
    assert len(gateway.bodies) == 10  # no request: the outputs are reused
    assert runner.counts.cached == 10 and runner.counts.scored == 10  # only the regex scorer ran again
    large = [r.score("regex") for r in results if r.target_id == "large"]
    assert all(s is not None and s.passed for s in large)
    # --no-cache asks again.
    third = await prepare_run(changed, store, None, RunOptions(auto_resume=False))
    await Runner(changed, store, gateway).execute(third.run, use_cache=False)
    assert len(gateway.bodies) == 20


async def test_errors_fail_every_scorer_and_are_retried(tmp_path: Path, store: SQLiteStore) -> None:
    suite = make_suite(tmp_path, cases=2, models=["small"])
    gateway = ScriptedGateway(fail={"q1"})
    run = (await prepare_run(suite, store, None, RunOptions())).run
    runner = Runner(suite, store, gateway)
    results = await runner.execute(run)
    broken = next(r for r in results if r.case_id == "c1")
    assert broken.status == "error" and broken.error is not None and "503" in broken.error
    assert [(s.value, s.passed) for s in broken.scores] == [(0.0, False), (0.0, False)]
    assert runner.counts.errors == 1
    gateway.fail.clear()
    rerun = Runner(suite, store, gateway)
    await rerun.execute((await prepare_run(suite, store, None, RunOptions())).run)
    assert rerun.counts.cached == 1 and rerun.counts.sent == 1  # an error is never served from cache


async def test_a_refused_key_stops_the_run_instead_of_failing_every_case(
    tmp_path: Path, store: SQLiteStore
) -> None:
    (tmp_path / "cases.jsonl").write_text('{"id": "c0", "input": "locked"}\n{"id": "c1", "input": "q1"}\n')
    data = {"dataset": "cases.jsonl", "models": ["small"], "scorers": [{"scorer": "exact"}], "concurrency": 1}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data))
    suite = load_suite(tmp_path / "suite.yaml")
    run = (await prepare_run(suite, store, None, RunOptions())).run
    with pytest.raises(PermissionDenied, match="refused the eval's key"):
        await Runner(suite, store, ScriptedGateway()).execute(run)
    stored = await store.get_eval_run(run.run_id)
    assert stored is not None and stored.status == "interrupted"


async def test_repeats_are_distinct_samples_and_extend_from_cache(tmp_path: Path, store: SQLiteStore) -> None:
    suite = make_suite(tmp_path, cases=2, models=["small"])
    gateway = ScriptedGateway()
    run = (await prepare_run(suite, store, None, RunOptions(repeat=2))).run
    assert run.total == 4
    runner = Runner(suite, store, gateway)
    keys = {item.key for item in runner.items(run)}
    assert len(keys) == 4
    await runner.execute(run)
    more = (await prepare_run(suite, store, None, RunOptions(repeat=3, auto_resume=False))).run
    extended = Runner(suite, store, gateway)
    await extended.execute(more)
    assert extended.counts.cached == 4 and extended.counts.sent == 2


def spec(text: str, model: str = "small") -> PromptSpec:
    return PromptSpec.model_validate(
        {
            "name": "reply",
            "model": model,
            "variables": {"q": {}},
            "messages": [{"role": "user", "content": text + " {{ q }}"}],
        }
    )


async def test_prompt_targets_pin_versions_and_add_the_baseline(tmp_path: Path, store: SQLiteStore) -> None:
    registry = build_prompt_registry(store)
    for text in ("one", "two", "three"):
        await registry.push(spec(text), who="t")
    await registry.promote("reply", 1, "production", who="t", force=True, why="set-up")
    await registry.promote("reply", 3, "staging", who="t")
    (tmp_path / "cases.jsonl").write_text('{"id": "c0", "variables": {"q": "hi"}}\n')
    data = {
        "dataset": "cases.jsonl",
        "prompts": ["reply@staging", "reply@2", "reply@3"],
        "scorers": [{"scorer": "exact"}],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data))
    suite = load_suite(tmp_path / "suite.yaml")
    matrix = await pin_targets(suite, store, gate=True)
    ids = [(t.target_id, t.role, t.ref) for t in matrix.targets]
    # No models in the suite: each prompt version's own model; reply@3 is the same target as staging.
    assert ids == [
        ("reply@3|small", "candidate", "staging"),
        ("reply@2|small", "candidate", "2"),
        ("reply@1|small", "baseline", "production"),
    ]
    assert matrix.baselines == {"reply": 1}
    body = request_body(suite.cases[0], matrix.targets[0], {"temperature": 0})
    assert body == {"model": "small", "temperature": 0, "prompt": "reply@3", "variables": {"q": "hi"}}
    # A label that moves after the run started does not change what a resumed run evaluates.
    run = (await prepare_run(suite, store, store, RunOptions())).run
    await registry.promote("reply", 2, "staging", who="t")
    resumed = await prepare_run(suite, store, store, RunOptions())
    assert resumed.resumed and [t.target_id for t in resumed.run.targets] == [
        "reply@3|small",
        "reply@2|small",
    ]
    assert run.run_id == resumed.run.run_id
    missing = suite.config.model_copy(update={"prompts": ["nothing@production"]})
    with pytest.raises(Exception, match=r"no prompt version nothing@production"):
        await pin_targets(
            Suite(missing, path=suite.path, cases=suite.cases, dataset_hash="x", scorers=suite.scorers),
            store,
            gate=False,
        )
