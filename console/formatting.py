"""How pages write durations and times, so every screen reads the same way.

Durations come from `access.workflow.policy.human_duration`, so service messages use the same
words; times are UTC to the minute, and say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access.workflow.policy import human_duration

__all__ = ["duration", "left", "when"]


def duration(span: timedelta) -> str:
    """"15 min", "4 h", "1 h 30 min"."""
    return human_duration(span)


def when(moment: datetime | None) -> str:
    """"2026-12-06 14:05 UTC"; "-" for no time. A naive time is taken as UTC (SQLite)."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def left(until: datetime, now: datetime) -> str:
    """"1 h 20 min left", "ended" when `until` has passed."""
    if until <= now:
        return "ended"
    return f"{human_duration(until - now)} left"
