"""The behaviour every store backend must show, written once.

A backend's test module subclasses ``StoreContract`` and provides a ``store`` fixture (connected,
on an empty database); pytest then runs every ``test_`` method below against that backend, so
SQLite and PostgreSQL cannot drift apart.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pilothouse.core.ids import new_id
from pilothouse.core.ports import SpendRow
from pilothouse.core.records import KeyRecord, SpanRecord, TraceRecord
from pilothouse.store import Store


def trace(trace_id: str, **fields: Any) -> TraceRecord:
    fields.setdefault("created_at", datetime.now(UTC))
    return TraceRecord(trace_id=trace_id, endpoint="chat.completions", **fields)


async def make_key(
    store: Store, name: str, *, prefix: str | None = None, team: str | None = "t"
) -> KeyRecord:
    return await store.create_key(
        name=name,
        key_hash=f"hash-{name}",
        prefix=prefix or f"ph-{name}",
        team=team,
        scopes=["chat"],
        models=None,
        expires_at=None,
    )


class StoreContract:
    async def test_trace_round_trip_keeps_exact_cost_and_spans(self, store: Store) -> None:
        record = trace(
            "01TEST",
            requested_model="m",
            cost_usd=Decimal("0.000000123"),
            messages=[{"role": "user", "content": "hi"}],
            spans=[SpanRecord(span_id="a1", name="auth", start_ms=0.0, duration_ms=0.2, attributes={"k": 1})],
        )
        await store.write_traces([record])
        await store.write_traces([record])  # idempotent: a retried batch does not duplicate
        got = await store.get_trace("01TEST")
        assert got is not None
        assert got.cost_usd == Decimal("0.000000123")
        assert got.messages == record.messages
        assert [s.name for s in got.spans] == ["auth"]
        assert got.spans[0].attributes == {"k": 1}
        assert await store.count_traces() == 1
        assert [t.trace_id for t in await store.list_traces(filters={"model": "m"})] == ["01TEST"]
        assert await store.list_traces(filters={"model": "other"}) == []
        with pytest.raises(ValueError, match="unknown trace filter"):
            await store.list_traces(filters={"bogus": "x"})

    async def test_whole_record_survives_the_round_trip(self, store: Store) -> None:
        record = trace(
            new_id(),
            key_id="k1",
            team_id="t1",
            requested_model="alias",
            served_model="deployment-a",
            provider="fake",
            stream=True,
            params={"temperature": 0.0, "max_tokens": 5},
            output={"content": "ok", "tool_calls": None},
            prompt_tokens=11,
            completion_tokens=7,
            cached_tokens=3,
            cost_usd=Decimal("1.234567891"),
            latency_ms=12.5,
            ttft_ms=3.25,
            status="error",
            http_status=429,
            error_type="rate_limit_error",
            error_code="rate_limit_exceeded",
            error_message="slow down",
            finish_reason="length",
            config_hash="abc",
            route="support",
            attempts=2,
            cache="hit_exact",
            cost_saved_usd=Decimal("0.5"),
            flags=["escalated"],
            attributes={"nested": {"list": [1, 2.5, "x", None, True]}},
            spans=[
                SpanRecord(span_id="b", name="provider", start_ms=1.0, duration_ms=5.0, status="error"),
                SpanRecord(span_id="a", name="auth", start_ms=0.0, duration_ms=0.1),
                SpanRecord(span_id="c", name="retry", start_ms=1.0, duration_ms=2.0),
            ],
        )
        await store.write_traces([record])
        got = await store.get_trace(record.trace_id)
        assert got is not None
        # Spans come back in start order (ties by id), whatever order they were written in.
        assert [s.span_id for s in got.spans] == ["a", "b", "c"]
        assert got.model_dump(exclude={"spans"}) == record.model_dump(exclude={"spans"})
        assert await store.get_trace("missing") is None

    async def test_rewritten_trace_replaces_the_stored_one(self, store: Store) -> None:
        first = trace("01A", requested_model="m", status="error", http_status=502)
        await store.write_traces([first])
        await store.write_traces([first.model_copy(update={"status": "ok", "http_status": 200})])
        got = await store.get_trace("01A")
        assert got is not None and got.status == "ok" and got.http_status == 200
        assert [t.trace_id for t in await store.list_traces(filters={"status": "ok"})] == ["01A"]
        assert await store.list_traces(filters={"status": "error"}) == []

    async def test_list_pages_newest_first_by_id(self, store: Store) -> None:
        ids = [new_id() for _ in range(7)]
        batch = [
            trace(i, requested_model="a" if n % 2 else "b", key_id=f"k{n % 3}") for n, i in enumerate(ids)
        ]
        await store.write_traces(list(reversed(batch)))
        newest_first = sorted(ids, reverse=True)
        page = await store.list_traces(limit=3)
        assert [t.trace_id for t in page] == newest_first[:3]
        page2 = await store.list_traces(limit=3, before=page[-1].trace_id)
        assert [t.trace_id for t in page2] == newest_first[3:6]
        both = await store.list_traces(limit=50, filters={"model": "a", "key_id": "k1", "team_id": None})
        assert [t.trace_id for t in both] == sorted(
            [b.trace_id for b in batch if b.requested_model == "a" and b.key_id == "k1"], reverse=True
        )
        assert await store.count_traces() == 7

    async def test_ids_order_bytewise_not_by_locale(self, store: Store) -> None:
        # Ids are upper-case letters and digits; a locale collation could put "a..." between them.
        await store.write_traces([trace("0Z"), trace("0a"), trace("0B")])
        assert [t.trace_id for t in await store.list_traces()] == ["0a", "0Z", "0B"]

    async def test_keys_teams_and_revocation(self, store: Store) -> None:
        a = await store.create_key(
            name="a",
            key_hash="h1",
            prefix="ph-aaaaaaa",
            team="t",
            scopes=["chat"],
            models=None,
            expires_at=None,
        )
        b = await store.create_key(
            name="b",
            key_hash="h2",
            prefix="ph-bbbbbbb",
            team="t",
            scopes=["chat"],
            models=["m"],
            expires_at=None,
            tools=["search", "lookup_order"],
        )
        assert a.team_id == b.team_id
        assert a.tools is None and b.tools == ["search", "lookup_order"]
        assert b.team_name == "t"
        assert b.models == ["m"]
        assert (await store.find_by_hash("h1")) == a
        revoked = await store.revoke_key("ph-aaaaaaa")
        assert revoked is not None
        assert revoked.revoked_at is not None
        assert [k.name for k in await store.list_keys()] == ["b"]
        assert len(await store.list_keys(include_revoked=True)) == 2
        assert await store.revoke_key("nothing") is None

    async def test_key_fields_round_trip_in_utc(self, store: Store) -> None:
        expires = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        created = await store.create_key(
            name="full",
            key_hash="hfull",
            prefix="ph-full",
            team=None,
            scopes=["chat", "admin"],
            models=[],
            expires_at=expires,
        )
        got = await store.find_by_hash("hfull")
        assert got == created
        assert got.team_id is None and got.team_name is None
        assert got.scopes == ["chat", "admin"] and got.models == []
        assert got.expires_at == expires
        assert got.created_at.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - got.created_at) < timedelta(minutes=1)
        assert await store.find_by_hash("nope") is None

    async def test_revoke_is_idempotent_and_ambiguous_prefix_revokes_nothing(self, store: Store) -> None:
        one = await make_key(store, "one", prefix="ph-same")
        two = await make_key(store, "two", prefix="ph-same")
        assert await store.revoke_key("ph-same") is None
        assert len(await store.list_keys()) == 2
        first = await store.revoke_key(one.key_id)
        again = await store.revoke_key(one.key_id)
        assert first is not None and again is not None
        assert again.revoked_at == first.revoked_at  # the first revocation time stands
        assert [k.key_id for k in await store.list_keys()] == [two.key_id]
        # Keys list in id order (creation order, to the millisecond).
        listed = [k.key_id for k in await store.list_keys(include_revoked=True)]
        assert listed == sorted([one.key_id, two.key_id])

    async def test_concurrent_keys_for_a_new_team_share_one_team(self, store: Store) -> None:
        keys = await asyncio.gather(*(make_key(store, f"c{i}", team="fresh") for i in range(5)))
        assert len({k.team_id for k in keys}) == 1
        assert {k.team_name for k in keys} == {"fresh"}

    async def test_duplicate_key_hash_is_refused(self, store: Store) -> None:
        await make_key(store, "dup")
        with pytest.raises(Exception, match=r"(?i)unique"):
            await make_key(store, "dup")

    async def test_spend_sums_exactly_by_key_team_route_and_model(self, store: Store) -> None:
        key = await make_key(store, "spender", team="finance")
        other = await make_key(store, "other", team=None)
        now = datetime.now(UTC)
        old = now - timedelta(days=2)
        mine = {"key_id": key.key_id, "team_id": key.team_id}
        tokens = {"prompt_tokens": 10, "completion_tokens": 5}
        await store.write_traces(
            [
                trace(new_id(), **mine, **tokens, route="r1", served_model="m1", cost_usd=Decimal("1e-9")),
                trace(new_id(), **mine, route="r2", served_model="m2", cost_usd=Decimal("0.1")),
                trace(new_id(), **mine, route="r1", served_model="m1", created_at=old, cost_usd=Decimal(5)),
                trace(
                    new_id(), key_id=other.key_id, route="r1", requested_model="m3", cost_usd=Decimal("0.3")
                ),
            ]
        )
        since = now - timedelta(days=1)
        assert await store.spend_since("key", "spender", since) == 100_000_001
        assert await store.spend_since("team", "finance", since) == 100_000_001
        assert await store.spend_since("route", "r1", since) == 300_000_001
        assert await store.spend_since("key", "spender", old - timedelta(seconds=1)) == 5_100_000_001
        assert await store.spend_since("team", "nobody", old) == 0
        assert await store.spend_report(by="model", since=since) == [
            SpendRow("m3", 1, 0, 0, 300_000_000),
            SpendRow("m2", 1, 0, 0, 100_000_000),
            SpendRow("m1", 1, 10, 5, 1),
        ]
        assert await store.spend_report(by="team") == [
            SpendRow("finance", 3, 10, 5, 5_100_000_001),
            SpendRow(None, 1, 0, 0, 300_000_000),
        ]
        assert await store.spend_report(by="route", until=since) == [SpendRow("r1", 1, 0, 0, 5_000_000_000)]

    async def test_settings_round_trip_and_overwrite(self, store: Store) -> None:
        assert await store.get_setting("guard.kill") is None
        await store.put_setting("guard.kill", '{"routes": ["a"]}')
        await store.put_setting("guard.kill", '{"routes": ["b"]}')
        assert await store.get_setting("guard.kill") == '{"routes": ["b"]}'
