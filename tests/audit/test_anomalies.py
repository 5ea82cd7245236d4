"""Anomaly rules on constructed histories (real databases, written through audit.log.append):
each rule flags its pattern, names itself, and stays quiet for the near miss next to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from audit.anomalies import (
    AnomalyRules,
    Flag,
    Rule,
    Window,
    activity_after_disable,
    breakglass_unreviewed,
    customers_per_ticket,
    find_anomalies,
    off_hours_access,
    reads_per_grant,
    repeated_denials,
)
from audit.vocabulary import Outcome
from tests.support.audit_history import ISS, MONDAY, History
from tests.support.databases import Database

MIN, H = timedelta(minutes=1), timedelta(hours=1)
RULES = AnomalyRules(reads_per_grant=5, customers_per_ticket=3, ticket_window=60 * MIN,
                     work_start_hour=7, work_end_hour=19, work_days=frozenset(range(5)),
                     breakglass_review=24 * H, denials=5, denial_window=15 * MIN)
WEEK = Window(MONDAY - 3 * 24 * H, MONDAY + 7 * 24 * H)


def run(rule: Rule, engine: Engine, window: Window = WEEK) -> list[Flag]:
    with engine.connect() as conn:
        return rule(conn, window, RULES)


def test_reads_per_grant_over_the_threshold(db: Database) -> None:
    h = History(db.engine)
    busy = [h.read("alice", i * MIN, grant="7") for i in range(6)]
    for i in range(5):  # exactly the threshold: not over it
        h.read("bob", i * MIN, grant="8", customer="cust-2")
    h.read("bob", -10 * 24 * H, grant="8", customer="cust-2")  # before the window
    [flag] = run(reads_per_grant, db.engine)
    assert (flag.rule, flag.subject, flag.evidence) == ("reads_per_grant", "grant 7",
                                                        tuple(busy))
    assert flag.at == MONDAY and "6 customer-data accesses" in flag.detail


def test_many_customers_under_one_ticket_in_a_short_window(db: Database) -> None:
    h = History(db.engine)
    sweep = [h.read("alice", i * 15 * MIN, grant=str(i), customer=f"cust-{i}",
                    ticket="SUP-1") for i in range(4)]  # 4 customers within 45 minutes
    for i in range(4):  # 4 customers, but 40 minutes apart: never more than 2 in an hour
        h.read("bob", i * 40 * MIN, grant=str(10 + i), customer=f"cust-{i}", ticket="SUP-2")
    for i in range(3):  # exactly 3 at once: not more than 3
        h.read("carol", i * MIN, grant=str(20 + i), customer=f"cust-{i}", ticket="SUP-3")
    for i in range(9):  # many reads of one customer under one ticket: fine
        h.read("dave", i * MIN, grant="30", customer="cust-9", ticket="SUP-4")
    [flag] = run(customers_per_ticket, db.engine)
    assert (flag.rule, flag.subject) == ("customers_per_ticket", "ticket SUP-1")
    assert flag.evidence == tuple(sweep) and flag.at == MONDAY
    assert "4 customers" in flag.detail and "60 min" in flag.detail


def test_access_outside_working_hours(db: Database) -> None:
    h = History(db.engine, MONDAY.replace(hour=0))  # Monday 00:00 UTC
    early = h.read("alice", timedelta(hours=6, minutes=59))
    h.read("alice", 7 * H)                            # 07:00: the first working minute
    h.read("alice", timedelta(hours=18, minutes=59))  # 18:59: the last one
    late = h.read("bob", 19 * H)                      # 19:00: after hours
    saturday = [h.read("carol", 5 * 24 * H + 12 * H), h.read("carol", 5 * 24 * H + 13 * H)]
    h.add("auth.login", "dave", 3 * H, details={"groups": []})  # not customer data
    flags = {f.subject: f for f in run(off_hours_access, db.engine)}
    assert set(flags) == {"actor alice", "actor bob", "actor carol"}
    assert flags["actor alice"].evidence == (early,)
    assert flags["actor bob"].evidence == (late,)
    assert flags["actor carol"].evidence == tuple(saturday)  # one flag per actor and day
    assert "Sat 2026-11-28 between 12:00 and 13:00 UTC" in flags["actor carol"].detail
    assert all(f.rule == "off_hours_access" for f in flags.values())


def test_break_glass_not_reviewed_in_time(db: Database) -> None:
    h = History(db.engine)
    for grant, reviewed_after in (("1", 23 * H), ("2", 25 * H), ("3", None)):
        h.add("breakglass.activated", "alice", grant_id=grant, customer_id="cust-1")
        if reviewed_after is not None:
            h.add("breakglass.reviewed", "ada.admin", reviewed_after, grant_id=grant)
    h.add("breakglass.activated", "bob", 28 * H, grant_id="4")  # due only after the window
    flags = run(breakglass_unreviewed, db.engine, Window(WEEK.since, MONDAY + 30 * H))
    assert [(f.rule, f.subject) for f in flags] == [("breakglass_unreviewed", "grant 2"),
                                                    ("breakglass_unreviewed", "grant 3")]
    assert "reviewed after 25.0 h" in flags[0].detail and len(flags[0].evidence) == 2
    assert "no review after 30.0 h" in flags[1].detail
    # Judged 20 hours after the activations, nothing is overdue yet, however far the window.
    early = Window(WEEK.since, WEEK.until, now=MONDAY + 20 * H)
    assert run(breakglass_unreviewed, db.engine, early) == []


def test_repeated_denials_or_mfa_failures_by_one_actor(db: Database) -> None:
    h = History(db.engine)
    probing = [h.add("data.denied", "bob", i * 2 * MIN, Outcome.DENIED, customer_id="cust-1")
               for i in range(3)]
    probing += [h.add("auth.mfa.failed", "bob", (6 + i) * MIN, Outcome.DENIED,
                      details={"failures": i + 1}) for i in range(2)]
    for i in range(4):  # one short of the threshold
        h.add("data.denied", "carol", i * MIN, Outcome.DENIED, customer_id="cust-1")
    for i in range(5):  # five, but spread over 40 minutes
        h.add("auth.mfa.failed", "dave", i * 10 * MIN, Outcome.DENIED)
    [flag] = run(repeated_denials, db.engine)
    assert (flag.rule, flag.subject, flag.evidence) == ("repeated_denials", "actor bob",
                                                        tuple(probing))


def test_activity_after_a_user_was_disabled(db: Database) -> None:
    h = History(db.engine)
    h.read("alice", -H)  # before the disable: fine
    off = h.add("user.disabled", "ada.admin", target_type="user", target_id=f"{ISS}|alice",
                details={"sessions_revoked": 1})
    after = h.add("auth.login.failed", "alice", 2 * H, Outcome.DENIED,
                  details={"why": "user disabled"})
    h.add("user.disabled", "ada.admin", target_type="user", target_id=f"{ISS}|bob")
    bob_while_off = h.read("bob", 30 * MIN)
    h.add("user.enabled", "ada.admin", H, target_type="user", target_id=f"{ISS}|bob")
    h.read("bob", 2 * H)  # enabled again: fine
    h.read("carol", 2 * H)  # never disabled
    flags = {f.subject: f for f in run(activity_after_disable, db.engine)}
    assert set(flags) == {"user alice", "user bob"}
    assert flags["user alice"].evidence == (off, after)
    assert flags["user bob"].evidence[1:] == (bob_while_off,)
    assert all(f.rule == "activity_after_disable" for f in flags.values())


def test_a_subject_containing_a_bar_is_still_matched(db: Database) -> None:
    h = History(db.engine)
    h.add("user.disabled", "ada.admin", target_type="user", target_id=f"{ISS}|auth0|42")
    h.add("auth.login.failed", "auth0|42", H, Outcome.DENIED, details={"why": "disabled"})
    [flag] = run(activity_after_disable, db.engine)
    assert flag.subject == "user auth0|42"


def test_all_rules_together_newest_first_each_naming_its_rule(db: Database) -> None:
    h = History(db.engine)
    for i in range(6):
        h.read("alice", i * MIN, grant="7")
    h.read("bob", 5 * 24 * H)  # Saturday
    with db.engine.connect() as conn:
        flags = find_anomalies(conn, WEEK, RULES)
    assert [(f.rule, f.subject) for f in flags] == [("off_hours_access", "actor bob"),
                                                    ("reads_per_grant", "grant 7")]


@pytest.mark.parametrize("rule", [reads_per_grant, customers_per_ticket, off_hours_access,
                                  breakglass_unreviewed, repeated_denials,
                                  activity_after_disable])
def test_an_empty_log_raises_no_flag(sqlite_db: Database, rule: Rule) -> None:
    assert run(rule, sqlite_db.engine) == []
