"""How pages write durations and times, so every screen reads the same way.

Durations come from `access.workflow.policy.human_duration`, so service messages use the same
words; times are UTC and say so: `when` in sentences ("2026-12-06 14:05 UTC"), `stamp` in a
table column whose header already says "(UTC)", `clock` for a time of today ("14:05 UTC"),
`soon` for a time that may be today or later, `day` for a date ("2026-12-06", a UTC day).
A time is never written without its year, nor without UTC being said somewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access.workflow.policy import human_duration

__all__ = ["clock", "day", "duration", "left", "soon", "stamp", "when"]


def duration(span: timedelta) -> str:
    """"15 min", "4 h", "1 h 30 min"."""
    return human_duration(span)


def _utc(moment: datetime) -> datetime:
    """A naive time is taken as UTC (SQLite returns them so)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(moment: datetime | None, seconds: bool = False) -> str:
    """"2026-12-06 14:05" (or "… 14:05:09"), for a column labelled "(UTC)"; "-" for none."""
    if moment is None:
        return "-"
    return f"{_utc(moment):%Y-%m-%d %H:%M:%S}" if seconds else f"{_utc(moment):%Y-%m-%d %H:%M}"


def when(moment: datetime | None, seconds: bool = False) -> str:
    """"2026-12-06 14:05 UTC" (or "… 14:05:09 UTC"); "-" for no time."""
    return "-" if moment is None else f"{stamp(moment, seconds)} UTC"


def clock(moment: datetime, seconds: bool = False) -> str:
    """"14:05 UTC" (or "14:05:09 UTC"): a time within the day being shown."""
    return f"{_utc(moment):%H:%M:%S} UTC" if seconds else f"{_utc(moment):%H:%M} UTC"


def soon(moment: datetime, now: datetime) -> str:
    """`clock` for a time on `now`'s UTC day ("14:05 UTC"), else `when`."""
    return clock(moment) if day(moment) == day(now) else when(moment)


def day(moment: datetime) -> str:
    """"2026-12-06": the UTC day of `moment`."""
    return f"{_utc(moment):%Y-%m-%d}"


def left(until: datetime, now: datetime) -> str:
    """"1 h 20 min left", "ended" when `until` has passed."""
    if until <= now:
        return "ended"
    return f"{human_duration(until - now)} left"
