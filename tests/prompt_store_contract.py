"""The prompt registry's storage behaviour, written once and run on every store backend.

A backend's test module subclasses ``PromptStoreContract`` and provides a ``store`` fixture
(connected, on an empty database), as for ``StoreContract``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pilothouse.store import Store


def spec(name: str = "greet", text: str = "Hello {{ who }}") -> dict[str, Any]:
    return {"name": name, "messages": [{"role": "user", "content": text}], "nested": {"list": [1, 2.5, None]}}


async def push(store: Store, name: str, content_hash: str, **kw: Any) -> tuple[Any, bool]:
    return await store.add_prompt_version(
        name=name,
        spec=kw.get("spec", spec(name)),
        content_hash=content_hash,
        who=kw.get("who", "ann"),
        why="",
    )


class PromptStoreContract:
    async def test_versions_number_from_one_and_identical_content_is_a_no_op(self, store: Store) -> None:
        first, created = await store.add_prompt_version(
            name="greet", spec=spec(), content_hash="h1", who="ann", why="initial"
        )
        assert created and first.version == 1
        assert first.spec == spec() and first.created_by == "ann" and first.why == "initial"
        assert first.created_at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - first.created_at) < timedelta(minutes=1)
        again, created = await push(store, "greet", "h1")
        assert not created and again == first
        second, created = await push(store, "greet", "h2")
        assert created and second.version == 2
        # Back to the first content: a new version (only the newest is compared).
        third, created = await push(store, "greet", "h1")
        assert created and third.version == 3
        other, _ = await push(store, "other", "h1")
        assert other.version == 1  # numbering is per prompt
        assert [e.kind for e in await store.prompt_events("greet")] == ["push", "push", "push"]
        assert await store.prompt_change_count() == 4

    async def test_reads_by_version_newest_and_per_prompt(self, store: Store) -> None:
        await push(store, "b", "h1")
        await push(store, "a", "h1")
        await push(store, "a", "h2", spec=spec("a", "Bye {{ who }}"))
        got = await store.get_prompt_version("a", 1)
        assert got is not None and got.content_hash == "h1"
        newest = await store.get_prompt_version("a")
        assert newest is not None and newest.version == 2 and newest.spec == spec("a", "Bye {{ who }}")
        assert await store.get_prompt_version("a", 9) is None
        assert await store.get_prompt_version("missing") is None
        assert [v.version for v in await store.list_prompt_versions("a")] == [1, 2]
        assert await store.list_prompt_versions("missing") == []
        assert [(v.name, v.version) for v in await store.latest_prompt_versions()] == [("a", 2), ("b", 1)]

    async def test_label_moves_are_compare_and_set_with_an_event(self, store: Store) -> None:
        await push(store, "greet", "h1")
        await push(store, "greet", "h2")
        first = await store.move_prompt_label(
            name="greet", label="production", version=1, expected=None, kind="promote", who="ann", why="go"
        )
        assert first is not None
        assert (first.kind, first.label, first.version, first.from_version) == (
            "promote",
            "production",
            1,
            None,
        )
        assert (first.who, first.why, first.forced) == ("ann", "go", False)
        # The label exists now: a creator who expected none loses, and so does a stale expectation.
        assert (
            await store.move_prompt_label(
                name="greet", label="production", version=2, expected=None, kind="promote", who="b", why=""
            )
            is None
        )
        assert (
            await store.move_prompt_label(
                name="greet", label="production", version=2, expected=2, kind="promote", who="b", why=""
            )
            is None
        )
        moved = await store.move_prompt_label(
            name="greet",
            label="production",
            version=2,
            expected=1,
            kind="promote",
            who="bo",
            why="",
            forced=True,
        )
        assert moved is not None and moved.forced and moved.from_version == 1 and moved.seq > first.seq
        back = await store.move_prompt_label(
            name="greet", label="production", version=1, expected=2, kind="rollback", who="cy", why="bad"
        )
        assert back is not None and back.kind == "rollback"
        labels = await store.prompt_labels("greet")
        assert [(lb.label, lb.version, lb.updated_by) for lb in labels] == [("production", 1, "cy")]
        assert labels[0].updated_at.utcoffset() == timedelta(0)
        events = await store.prompt_events("greet", label="production")
        assert [(e.kind, e.version) for e in events] == [("promote", 1), ("promote", 2), ("rollback", 1)]
        assert [e.kind for e in await store.prompt_events()] == [
            "push",
            "push",
            "promote",
            "promote",
            "rollback",
        ]
        assert await store.prompt_change_count() == 5

    async def test_labels_list_by_prompt_then_label(self, store: Store) -> None:
        for name in ("b", "a"):
            await push(store, name, "h")
            for label in ("staging", "canary"):
                await store.move_prompt_label(
                    name=name, label=label, version=1, expected=None, kind="promote", who="x", why=""
                )
        assert [(lb.name, lb.label) for lb in await store.prompt_labels()] == [
            ("a", "canary"),
            ("a", "staging"),
            ("b", "canary"),
            ("b", "staging"),
        ]
        assert await store.prompt_labels("none") == []

    async def test_a_label_cannot_point_at_a_missing_version(self, store: Store) -> None:
        await push(store, "greet", "h1")
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            await store.move_prompt_label(
                name="greet", label="production", version=7, expected=None, kind="promote", who="x", why=""
            )
        assert await store.prompt_change_count() == 1  # the failed move left no event

    async def test_concurrent_pushes_get_distinct_versions(self, store: Store) -> None:
        results = await asyncio.gather(*(push(store, "busy", f"h{i}") for i in range(6)))
        assert sorted(r[0].version for r in results) == [1, 2, 3, 4, 5, 6]

    async def test_concurrent_promotions_let_exactly_one_win(self, store: Store) -> None:
        for i in range(4):
            await push(store, "race", f"h{i}")
        moves = await asyncio.gather(
            *(
                store.move_prompt_label(
                    name="race", label="production", version=v, expected=None, kind="promote", who="x", why=""
                )
                for v in (1, 2, 3, 4)
            )
        )
        winners = [m for m in moves if m is not None]
        assert len(winners) == 1
        labels = await store.prompt_labels("race")
        assert [lb.version for lb in labels] == [winners[0].version]
