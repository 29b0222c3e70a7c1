"""The ``EvalStore`` behaviour every backend must show, written once (like ``store_contract``).

A backend's test module subclasses ``EvalStoreContract`` and provides a connected ``store`` fixture on
an empty database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from pilothouse.core.eval_records import (
    EvalResultRecord,
    EvalRunRecord,
    EvalScoreRecord,
    EvalTarget,
    ReviewItemRecord,
)
from pilothouse.core.ids import new_id
from pilothouse.store import Store


def run_record(suite: str = "s", **fields: object) -> EvalRunRecord:
    data: dict[str, object] = {
        "run_id": new_id(),
        "suite": suite,
        "suite_hash": "h1",
        "created_at": datetime.now(UTC),
        "targets": [EvalTarget(target_id="p@1|m", model="m", prompt="p", ref="production", version=1)],
        "total": 2,
        "spec": {"repeat": 1, "baselines": {"p": 1}},
    }
    data.update(fields)
    return EvalRunRecord.model_validate(data)


def result(
    run_id: str, case_id: str, *, key: str, status: str = "ok", value: float = 1.0
) -> EvalResultRecord:
    return EvalResultRecord(
        run_id=run_id,
        case_id=case_id,
        target_id="p@1|m",
        repeat=0,
        cache_key=key,
        status=status,
        output={"text": f"answer {case_id} \x00", "usage": {"prompt_tokens": 3}},
        error=None if status == "ok" else "HTTP 503",
        trace_id="t-" + case_id,
        latency_ms=12.5,
        cost_nanousd=1234,
        created_at=datetime.now(UTC),
        scores=[
            EvalScoreRecord(
                scorer="exact", score_key="k-exact", value=value, passed=value == 1.0, reason="ok"
            ),
            EvalScoreRecord(
                scorer="judge", score_key="k-judge", value=0.75, reason="fine", details={"samples": [0.75]}
            ),
        ],
    )


class EvalStoreContract:
    async def test_runs_round_trip_and_list_newest_first(self, store: Store) -> None:
        first = run_record("alpha")
        await store.save_eval_run(first)
        second = run_record("alpha", status="interrupted")
        await store.save_eval_run(second)
        await store.save_eval_run(run_record("beta", status="finished"))
        got = await store.get_eval_run(first.run_id)
        assert got == first
        assert await store.get_eval_run("missing") is None
        listed = await store.list_eval_runs(suite="alpha")
        assert [r.run_id for r in listed] == [second.run_id, first.run_id]
        unfinished = await store.list_eval_runs(statuses=["running", "interrupted"])
        assert {r.run_id for r in unfinished} == {first.run_id, second.run_id}
        first.status = "finished"
        first.finished_at = datetime.now(UTC)
        first.gate_passed = True
        first.summary = {"gate": {"passed": True}}
        await store.save_eval_run(first)  # an update replaces the record
        again = await store.get_eval_run(first.run_id)
        assert again is not None and again.status == "finished" and again.summary == first.summary
        assert len(await store.list_eval_runs(limit=1)) == 1

    async def test_results_replace_with_their_scores(self, store: Store) -> None:
        run = run_record()
        await store.save_eval_run(run)
        failed = result(run.run_id, "c1", key="k1", status="error", value=0.0)
        await store.save_eval_result(failed)
        await store.save_eval_result(result(run.run_id, "c2", key="k2"))
        fixed = result(run.run_id, "c1", key="k1", value=1.0)
        fixed.scores = fixed.scores[:1]
        await store.save_eval_result(fixed)  # a resumed item overwrites its failed attempt
        got = await store.eval_results(run.run_id)
        assert [(r.case_id, r.status) for r in got] == [("c1", "ok"), ("c2", "ok")]
        assert [s.scorer for s in got[0].scores] == ["exact"]
        assert got[1].scores[1].details == {"samples": [0.75]}
        assert got[1].score("judge") is not None and got[1].score("judge").passed is None  # type: ignore[union-attr]
        assert got[1].output["usage"] == {"prompt_tokens": 3}
        assert got[1].cost_nanousd == 1234 and got[1].latency_ms == 12.5
        assert got[1].created_at.utcoffset() == timedelta(0)

    async def test_cache_finds_the_newest_successful_result_of_any_run(self, store: Store) -> None:
        old, new = run_record(), run_record()
        await store.save_eval_run(old)
        await store.save_eval_run(new)
        await store.save_eval_result(result(old.run_id, "c1", key="shared", value=0.0))
        await asyncio.sleep(0.01)
        await store.save_eval_result(result(new.run_id, "c1", key="shared", value=1.0))
        await store.save_eval_result(result(new.run_id, "c2", key="failed", status="error"))
        found = await store.cached_eval_results(["shared", "failed", "unknown", "shared"])
        assert set(found) == {"shared"}
        assert found["shared"].run_id == new.run_id
        assert found["shared"].score("exact").value == 1.0  # type: ignore[union-attr]
        assert await store.cached_eval_results([]) == {}
        many = [f"key-{i}" for i in range(1200)] + ["shared"]  # more keys than one IN list holds
        assert set(await store.cached_eval_results(many)) == {"shared"}

    async def test_gate_evidence(self, store: Store) -> None:
        assert await store.gate_passed("support", 2) is False
        await store.record_gate_pass("support", 2, "run-1")
        await store.record_gate_pass("support", 2, "run-1")  # idempotent
        await store.record_gate_pass("support", 2, "run-2")
        assert await store.gate_passed("support", 2) is True
        assert await store.gate_passed("support", 3) is False
        assert await store.gate_passed("other", 2) is False

    async def test_review_queue(self, store: Store) -> None:
        now = datetime.now(UTC)
        items = [
            ReviewItemRecord(
                item_id=new_id(),
                source="run",
                run_id="r1",
                case_id=f"c{i}",
                target_id="t",
                payload={"i": i},
                created_at=now,
            )
            for i in range(3)
        ] + [ReviewItemRecord(item_id=new_id(), source="trace", trace_id="tr1", payload={}, created_at=now)]
        assert await store.add_review_items(items) == 4
        duplicates = [
            items[0].model_copy(update={"item_id": new_id()}),
            items[3].model_copy(update={"item_id": new_id()}),
        ]
        assert await store.add_review_items(duplicates) == 0  # same case / same trace: queued once
        # Oldest first: ids sort by creation time (within one millisecond, in id order).
        order = sorted(items, key=lambda i: i.item_id)
        first = await store.next_review_item()
        assert first is not None and first.item_id == order[0].item_id and first.payload == order[0].payload
        labelled = await store.label_review_item(
            first.item_id, label="fail", comment="wrong tone", reviewer="ana"
        )
        assert labelled is not None and labelled.label == "fail" and labelled.comment == "wrong tone"
        assert labelled.labelled_at is not None and labelled.reviewer == "ana"
        nxt = await store.next_review_item()
        assert nxt is not None and nxt.item_id == order[1].item_id
        assert await store.label_review_item("missing", label="pass", comment=None, reviewer=None) is None
        in_run = await store.list_review_items(run_id="r1")
        assert [i.item_id for i in in_run] == [i.item_id for i in order if i.run_id == "r1"]
        assert [i.item_id for i in await store.list_review_items(labelled=True)] == [order[0].item_id]
        assert len(await store.list_review_items(labelled=False)) == 3
        got = await store.get_review_item(items[3].item_id)
        assert got is not None and got.source == "trace" and got.trace_id == "tr1"
