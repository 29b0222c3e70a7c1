"""Budget periods in UTC: a calendar day, an ISO week (Monday to Monday), a calendar month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

Period = Literal["day", "week", "month"]


def period_bounds(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the period holding ``now`` (an aware datetime; naive is taken as UTC)."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def period_label(period: Period, start: datetime) -> str:
    """``2025-01-31``, ``2025-W05`` (ISO year and week) or ``2025-01``."""
    if period == "day":
        return start.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")
