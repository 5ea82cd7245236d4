"""The clock of a data-subject request: when it is due, whether it may be extended, and how
it stands now. Pure functions of the request's dates and the injected `now`.

- GDPR (Art. 12(3)): within one calendar month of receipt (`[dsr] gdpr_months`); extendable
  once by up to two further months (`gdpr_extension_months`), and only while the first month
  runs, with a reason.
- CCPA: within 45 days (`ccpa_days`), extendable once by 45 more (`ccpa_extension_days`),
  likewise only before the first period ends.

States: a closed request is `met` if it closed on or before its due date and `breached`
otherwise (the deadline was missed, and that is final); an open one is `overdue` past its due
date, `due soon` within `due_soon_days` of it, else `on track`.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum

from access.settings.config import DsrPolicy

__all__ = ["GDPR_EXTENSION_RULE", "ClockState", "Jurisdiction", "add_months", "clock_state",
           "extended_due", "first_due"]

GDPR_EXTENSION_RULE = ("GDPR Art. 12(3): a request may be extended once, by up to two further "
                       "months, and only while its first period runs")


class Jurisdiction(StrEnum):
    GDPR = "gdpr"
    CCPA = "ccpa"


class ClockState(StrEnum):
    MET = "met"
    ON_TRACK = "on track"
    DUE_SOON = "due soon"
    OVERDUE = "overdue"
    BREACHED = "breached"


def add_months(at: datetime, months: int) -> datetime:
    """The same time `months` calendar months later; a day the month lacks becomes its last
    (31 January + 1 month = 28 or 29 February)."""
    years, month = divmod(at.month - 1 + months, 12)
    year = at.year + years
    return at.replace(year=year, month=month + 1,
                      day=min(at.day, calendar.monthrange(year, month + 1)[1]))


def first_due(received_at: datetime, jurisdiction: Jurisdiction, policy: DsrPolicy
              ) -> datetime:
    if jurisdiction is Jurisdiction.GDPR:
        return add_months(received_at, policy.gdpr_months)
    return received_at + timedelta(days=policy.ccpa_days)


def extended_due(received_at: datetime, jurisdiction: Jurisdiction, policy: DsrPolicy
                 ) -> datetime:
    """The due date after the one extension allowed."""
    first = first_due(received_at, jurisdiction, policy)
    if jurisdiction is Jurisdiction.GDPR:
        return add_months(first, policy.gdpr_extension_months)
    return first + timedelta(days=policy.ccpa_extension_days)


def clock_state(due_at: datetime, closed_at: datetime | None, now: datetime,
                policy: DsrPolicy) -> ClockState:
    if closed_at is not None:
        return ClockState.MET if closed_at <= due_at else ClockState.BREACHED
    if now > due_at:
        return ClockState.OVERDUE
    if due_at - now <= timedelta(days=policy.due_soon_days):
        return ClockState.DUE_SOON
    return ClockState.ON_TRACK
