"""The registry's rules (versions, labels, the release gate, rollback, diff, the change log) and the
resolver's cache, over a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pilothouse.bootstrap import build_prompt_registry
from pilothouse.core.errors import Conflict, InvalidRequest, NotFound
from pilothouse.prompts import NoGateEvidence, PromptRegistry, PromptResolver, PromptSpec, pull_dir, push_dir
from pilothouse.store import SQLiteStore, Store

pytestmark = pytest.mark.unit


@dataclass
class Evidence:
    """A release gate double: the versions listed have passed."""

    passed: set[tuple[str, int]] = field(default_factory=set)
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def gate_passed(self, prompt: str, version: int) -> bool:
        self.asked.append((prompt, version))
        return (prompt, version) in self.passed


def spec(text: str = "Hello {{ who }}", name: str = "greet", **fields: Any) -> PromptSpec:
    return PromptSpec.model_validate(
        {"name": name, "variables": {"who": {}}, "messages": [{"role": "user", "content": text}], **fields}
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SQLiteStore(str(tmp_path / "registry.db"))
    yield store
    await store.aclose()


@pytest.fixture
def evidence() -> Evidence:
    return Evidence()


@pytest.fixture
def registry(store: Store, evidence: Evidence) -> PromptRegistry:
    return PromptRegistry(store, evidence)


async def three_versions(registry: PromptRegistry) -> None:
    for text in ("v1 {{ who }}", "v2 {{ who }}", "v3 {{ who }}"):
        await registry.push(spec(text), who="ann", why=f"write {text[:2]}")


# --- versions --------------------------------------------------------------------------------
async def test_push_numbers_versions_and_skips_unchanged_content(registry: PromptRegistry) -> None:
    first = await registry.push(spec(), who="ann", why="first")
    assert first.created and first.version.version == 1 and first.version.spec == spec()
    again = await registry.push(spec(), who="bob")
    assert not again.created and again.version.version == 1
    second = await registry.push(spec("Hi {{ who }}"), who="bob", why="shorter")
    assert second.created and second.version.ref == "greet@2"
    history = await registry.history("greet")
    assert [(e.kind, e.version, e.who, e.why) for e in history] == [
        ("push", 1, "ann", "first"),
        ("push", 2, "bob", "shorter"),
    ]


async def test_get_by_number_label_and_latest(registry: PromptRegistry) -> None:
    await three_versions(registry)
    await registry.promote("greet", 2, "staging", who="ann")
    assert (await registry.get("greet", 1)).version == 1
    assert (await registry.get("greet", "staging")).version == 2
    assert (await registry.get("greet", "latest")).version == 3
    assert (await registry.get("greet")).version == 3
    assert [v.version for v in await registry.versions("greet")] == [1, 2, 3]
    for name, selector, code in [
        ("nope", 1, "prompt_not_found"),
        ("nope", "staging", "prompt_not_found"),
        ("greet", 9, "prompt_version_not_found"),
        ("greet", "canary", "prompt_label_not_found"),
    ]:
        with pytest.raises(NotFound) as exc:
            await registry.get(name, selector)
        assert exc.value.code == code
    with pytest.raises(NotFound):
        await registry.history("nope")


async def test_list_shows_newest_version_and_labels(registry: PromptRegistry) -> None:
    await three_versions(registry)
    await registry.push(spec(name="other", description="Another one."), who="ann")
    await registry.promote("greet", 1, "staging", who="ann")
    summaries = await registry.list_prompts()
    assert [(s.name, s.latest.version, s.labels) for s in summaries] == [
        ("greet", 3, {"staging": 1}),
        ("other", 1, {}),
    ]
    assert summaries[1].latest.spec.description == "Another one."


# --- the release gate ---------------------------------------------------------------------------
async def test_production_needs_a_passed_gate(registry: PromptRegistry, evidence: Evidence) -> None:
    await three_versions(registry)
    with pytest.raises(Conflict) as exc:
        await registry.promote("greet", 2, "production", who="ann", why="looks good")
    assert exc.value.code == "gate_not_passed" and exc.value.status == 409
    assert evidence.asked == [("greet", 2)]
    assert await registry.labels("greet") == {}
    evidence.passed.add(("greet", 2))
    event = await registry.promote("greet", 2, "production", who="ann", why="eval run 42 passed")
    assert event is not None and not event.forced and event.from_version is None
    assert await registry.labels("greet") == {"production": 2}


async def test_forcing_production_needs_a_reason_and_is_recorded(registry: PromptRegistry) -> None:
    await three_versions(registry)
    for why in ("", "   "):
        with pytest.raises(InvalidRequest, match="needs a reason"):
            await registry.promote("greet", 1, "production", who="ann", why=why, force=True)
    event = await registry.promote(
        "greet", 1, "production", who="ann", why="hotfix, evals pending", force=True
    )
    assert event is not None and event.forced and event.why == "hotfix, evals pending"
    assert [e.forced for e in await registry.history("greet", label="production")] == [True]


async def test_other_labels_need_no_gate(registry: PromptRegistry, evidence: Evidence) -> None:
    await three_versions(registry)
    assert await registry.promote("greet", 3, "canary", who="ann") is not None
    assert evidence.asked == []


async def test_no_gate_evidence_refuses_every_production_promotion(store: Store) -> None:
    registry = PromptRegistry(store, NoGateEvidence())
    await registry.push(spec(), who="ann")
    with pytest.raises(Conflict):
        await registry.promote("greet", 1, "production", who="ann")


async def test_promote_takes_a_version_from_another_label(
    registry: PromptRegistry, evidence: Evidence
) -> None:
    await three_versions(registry)
    await registry.promote("greet", 2, "staging", who="ann")
    evidence.passed.add(("greet", 2))
    event = await registry.promote("greet", "staging", "production", who="ann", why="ship staging")
    assert event is not None and event.version == 2
    # Already there: nothing happens, nothing is logged.
    assert await registry.promote("greet", 2, "production", who="ann") is None
    assert len(await registry.history("greet", label="production")) == 1


@pytest.mark.parametrize("label", ["3", "latest", "bad label", "-x", ""])
async def test_bad_label_names_are_refused(registry: PromptRegistry, label: str) -> None:
    await registry.push(spec(), who="ann")
    with pytest.raises(InvalidRequest):
        await registry.promote("greet", 1, label, who="ann")


async def test_every_change_needs_a_who(registry: PromptRegistry) -> None:
    with pytest.raises(InvalidRequest, match="who"):
        await registry.push(spec(), who=" ")


# --- rollback ------------------------------------------------------------------------------------
async def test_rollback_unwinds_promotions_in_order(registry: PromptRegistry) -> None:
    await three_versions(registry)
    for version in (1, 2, 3):
        await registry.promote("greet", version, "staging", who="ann")
    back = await registry.rollback("greet", "staging", who="bob", why="v3 is rude")
    assert (back.kind, back.from_version, back.version, back.who) == ("rollback", 3, 2, "bob")
    assert (await registry.rollback("greet", "staging", who="bob")).version == 1
    with pytest.raises(Conflict) as exc:
        await registry.rollback("greet", "staging", who="bob")
    assert exc.value.code == "nothing_to_roll_back"
    # A new promotion after rollbacks rolls back to where the label was before it.
    await registry.promote("greet", 3, "staging", who="ann")
    assert (await registry.rollback("greet", "staging", who="bob")).version == 1
    kinds = [(e.kind, e.version) for e in await registry.history("greet", label="staging")]
    assert kinds == [
        ("promote", 1),
        ("promote", 2),
        ("promote", 3),
        ("rollback", 2),
        ("rollback", 1),
        ("promote", 3),
        ("rollback", 1),
    ]


async def test_rollback_of_an_unknown_prompt_is_not_found(registry: PromptRegistry) -> None:
    with pytest.raises(NotFound):
        await registry.rollback("nope", "production", who="ann")


# --- diff ------------------------------------------------------------------------------------------
async def test_diff_shows_template_and_param_changes(registry: PromptRegistry) -> None:
    await registry.push(spec("Hello {{ who }}", params={"temperature": 0.2}), who="ann")
    await registry.push(spec("Hi there {{ who }}", params={"temperature": 0.7}), who="ann")
    await registry.promote("greet", 1, "staging", who="ann")
    text = await registry.diff("greet", "staging", 2)
    assert text.startswith("--- greet@1\n+++ greet@2\n")
    assert "-  temperature: 0.2\n+  temperature: 0.7\n" in text
    assert "-  content: Hello {{ who }}\n+  content: Hi there {{ who }}\n" in text
    assert await registry.diff("greet", 2, "latest") == ""


# --- files and change notification -----------------------------------------------------------------
async def test_files_push_then_pull_round_trips(registry: PromptRegistry, tmp_path: Path) -> None:
    src = tmp_path / "prompts"
    src.mkdir()
    (src / "greet.yaml").write_text(
        "variables:\n  who: {}\nmessages:\n  - role: user\n    content: Hello {{ who }}\n"
    )
    (src / "bye.yaml").write_text("messages:\n  - role: user\n    content: Bye\n")
    pushed = await push_dir(registry, src, who="ann", why="from git")
    assert [(p.name, r.version.version, r.created) for p, r in pushed] == [
        ("bye.yaml", 1, True),
        ("greet.yaml", 1, True),
    ]
    only = await push_dir(registry, src, who="ann", names=["greet"])
    assert [(r.version.name, r.created) for _, r in only] == [("greet", False)]
    with pytest.raises(NotFound):
        await push_dir(registry, src, who="ann", names=["nope"])
    out = tmp_path / "pulled"
    written = await pull_dir(registry, out)
    assert sorted(p.name for p, _ in written) == ["bye.yaml", "greet.yaml"]
    assert (out / "greet.yaml").read_text().startswith("# greet version 1 (sha256:")
    assert not any(r.created for _, r in await push_dir(registry, out, who="ann"))
    # A label selector pulls only the prompts that have the label.
    await registry.promote("bye", 1, "staging", who="ann")
    assert [v.name for _, v in await pull_dir(registry, tmp_path / "staging", selector="staging")] == ["bye"]


async def test_changes_notify_the_listener_once_each(store: Store, evidence: Evidence) -> None:
    calls: list[int] = []

    async def heard() -> None:
        calls.append(1)

    registry = PromptRegistry(store, evidence, on_change=heard)
    await registry.push(spec(), who="ann")
    await registry.push(spec(), who="ann")  # no-op: no change
    await registry.push(spec("Hi {{ who }}"), who="ann")
    await registry.promote("greet", 1, "staging", who="ann")
    await registry.promote("greet", 1, "staging", who="ann")  # already there
    await registry.promote("greet", 2, "staging", who="ann")
    await registry.rollback("greet", "staging", who="ann")
    assert len(calls) == 5


# --- the resolver --------------------------------------------------------------------------------
class CountingStore:
    """The store, counting the calls the resolver makes and able to fail them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []
        self.failing = False

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if self.failing:
                raise ConnectionError("database is down")
            return await method(*args, **kwargs)

        return call


@pytest.fixture
async def resolver(store: Store) -> AsyncIterator[tuple[PromptResolver, CountingStore]]:
    counting = CountingStore(store)
    resolver = PromptResolver(counting, refresh_interval=0.02)  # type: ignore[arg-type]
    yield resolver, counting
    await resolver.aclose()


async def test_references_resolve_from_memory(
    registry: PromptRegistry, evidence: Evidence, resolver: tuple[PromptResolver, CountingStore]
) -> None:
    prompts, counting = resolver
    await three_versions(registry)
    evidence.passed.add(("greet", 2))
    await registry.promote("greet", 2, "production", who="ann", why="gate passed")
    await registry.promote("greet", 1, "staging", who="ann")
    await prompts.refresh()
    counting.calls.clear()
    for _ in range(50):
        found = await prompts.resolve("greet")
        assert (found.name, found.version, found.label) == ("greet", 2, "production")
        assert (await prompts.resolve("greet@staging")).version == 1
        assert (await prompts.resolve("greet@latest")).version == 3
        assert (await prompts.resolve("greet@2")).label is None
    assert counting.calls == []  # label holders and the newest version were loaded with the labels
    assert (await prompts.resolve("greet@2")).prompt.render({"who": "Ada"}) == [
        {"role": "user", "content": "v2 Ada"}
    ]


async def test_pinned_versions_load_once_and_misses_are_remembered(
    registry: PromptRegistry, resolver: tuple[PromptResolver, CountingStore]
) -> None:
    prompts, counting = resolver
    await three_versions(registry)
    await prompts.refresh()
    counting.calls.clear()
    for _ in range(3):
        assert (await prompts.resolve("greet@1")).version == 1
    assert counting.calls == ["get_prompt_version"]
    counting.calls.clear()
    for _ in range(3):
        with pytest.raises(NotFound) as exc:
            await prompts.resolve("greet@7")
        assert exc.value.code == "prompt_version_not_found"
    assert counting.calls == ["get_prompt_version"]
    for ref, code in [("nope", "prompt_not_found"), ("greet@canary", "prompt_label_not_found")]:
        with pytest.raises(NotFound) as exc:
            await prompts.resolve(ref)
        assert exc.value.code == code and exc.value.status == 404


async def test_changes_from_elsewhere_arrive_by_polling(
    store: Store, evidence: Evidence, resolver: tuple[PromptResolver, CountingStore]
) -> None:
    prompts, _ = resolver
    other_process = PromptRegistry(store, evidence)  # no listener: only the poll can tell
    await other_process.push(spec(), who="ann")
    await prompts.start()
    with pytest.raises(NotFound):
        await prompts.resolve("greet@staging")
    await other_process.promote("greet", 1, "staging", who="ann")
    for _ in range(200):
        try:
            assert (await prompts.resolve("greet@staging")).version == 1
            break
        except NotFound:
            await asyncio.sleep(0.01)
    else:
        pytest.fail("the resolver never saw the promotion")


async def test_changes_in_process_apply_at_once(
    store: Store, evidence: Evidence, resolver: tuple[PromptResolver, CountingStore]
) -> None:
    prompts, _ = resolver
    registry = PromptRegistry(store, evidence, on_change=prompts.refresh)
    await registry.push(spec(), who="ann")
    await registry.push(spec("Hi {{ who }}"), who="ann")
    await registry.promote("greet", 2, "staging", who="ann")
    assert (await prompts.resolve("greet@staging")).version == 2
    await registry.promote("greet", 1, "staging", who="ann")
    assert (await prompts.resolve("greet@staging")).version == 1
    await registry.rollback("greet", "staging", who="ann")
    assert (await prompts.resolve("greet@staging")).version == 2


async def test_a_failing_store_keeps_the_cache_serving(
    registry: PromptRegistry, resolver: tuple[PromptResolver, CountingStore], caplog: pytest.LogCaptureFixture
) -> None:
    prompts, counting = resolver
    await registry.push(spec(), who="ann")
    await registry.promote("greet", 1, "staging", who="ann")
    await prompts.start()
    counting.failing = True
    await asyncio.sleep(0.1)  # several failed polls
    assert (await prompts.resolve("greet@staging")).version == 1
    assert "serving cached prompts" in caplog.text
    counting.failing = False


async def test_the_composition_roots_gate_is_the_record_of_passed_eval_runs(store: Store) -> None:
    registry = build_prompt_registry(store)
    await registry.push(spec(), who="ann")
    await registry.push(spec("Hi {{ who }}"), who="ann")
    with pytest.raises(Conflict):
        await registry.promote("greet", 2, "production", who="ann")
    await store.record_gate_pass("greet", 2, "run-1")  # what `pilothouse eval run --gate` writes
    event = await registry.promote("greet", 2, "production", who="ann", why="gated run passed")
    assert event is not None and not event.forced
    with pytest.raises(Conflict):  # the gate is per version
        await registry.promote("greet", 1, "production", who="ann")
