"""The clock of a data-subject request: due dates per jurisdiction, the one extension, and the
five states, as pure functions of the dates and an injected `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.dsr.clock import (
    ClockState,
    Jurisdiction,
    add_months,
    clock_state,
    extended_due,
    first_due,
)
from access.settings.config import DsrPolicy

POLICY = DsrPolicy()
JAN_31 = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)


def test_a_calendar_month_clamps_to_the_end_of_a_shorter_month() -> None:
    assert add_months(JAN_31, 1) == datetime(2027, 2, 28, 10, 0, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29,
                                                                         tzinfo=UTC)
    assert add_months(datetime(2026, 11, 30, tzinfo=UTC), 2) == datetime(2027, 1, 30,
                                                                          tzinfo=UTC)


def test_gdpr_is_one_month_and_extends_by_two_more() -> None:
    received = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
    assert first_due(received, Jurisdiction.GDPR, POLICY) == datetime(2027, 4, 15, 9, 0,
                                                                      tzinfo=UTC)
    assert extended_due(received, Jurisdiction.GDPR, POLICY) == datetime(2027, 6, 15, 9, 0,
                                                                         tzinfo=UTC)


def test_ccpa_is_45_days_and_extends_by_45_more() -> None:
    received = datetime(2027, 3, 15, 9, 0, tzinfo=UTC)
    assert first_due(received, Jurisdiction.CCPA, POLICY) == received + timedelta(days=45)
    assert extended_due(received, Jurisdiction.CCPA, POLICY) == received + timedelta(days=90)
    shorter = DsrPolicy(ccpa_days=30)
    assert first_due(received, Jurisdiction.CCPA, shorter) == received + timedelta(days=30)


DUE = datetime(2027, 4, 15, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("closed", "now", "state"), [
    (DUE, DUE + timedelta(days=3), ClockState.MET),                   # on the day is in time
    (DUE + timedelta(seconds=1), DUE + timedelta(days=3), ClockState.BREACHED),
    (None, DUE + timedelta(seconds=1), ClockState.OVERDUE),
    (None, DUE - timedelta(days=7), ClockState.DUE_SOON),             # due_soon_days = 7
    (None, DUE - timedelta(days=7, seconds=1), ClockState.ON_TRACK),
    (None, DUE, ClockState.DUE_SOON),
])
def test_the_five_states(closed: datetime | None, now: datetime, state: ClockState) -> None:
    assert clock_state(DUE, closed, now, POLICY) is state
