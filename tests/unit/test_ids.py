from __future__ import annotations

import pytest

from pilothouse.core.ids import new_id, new_span_id

pytestmark = pytest.mark.unit


def test_ids_are_strictly_increasing_even_within_a_millisecond() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids[:10])


def test_span_ids_have_opentelemetry_width() -> None:
    assert len(new_span_id()) == 16
