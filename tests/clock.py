"""A clock tests set by hand, for code that takes ``clock=`` (limits, agent sessions)."""

from __future__ import annotations

import pytest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
