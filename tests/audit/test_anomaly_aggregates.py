"""The anomaly rules rewritten as aggregates raise exactly the flags they raised before, and
`flags_per_actor` (the access-review evidence) counts exactly what counting over every raised
flag's evidence counted: both compared, on both engines, with the rules as they were
(`tests/audit/anomaly_reference.py`) over a dense seeded history in which every rule fires,
near misses sit beside the hits, timestamps tie, ids do not follow time, and one subject
exists at two issuers."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from audit.anomalies import (
    _CITATIONS,
    RULES,
    AnomalyRules,
    Flag,
    Rule,
    Window,
    activity_after_disable,
    breakglass_unreviewed,
    customers_per_ticket,
    dsr_overdue,
    flags_per_actor,
    off_hours_access,
    reads_per_grant,
    repeated_denials,
    seal_lag,
)
from audit.engine import write_engine
from audit.events import Actor, AuditEvent
from audit.log import append_many
from audit.vocabulary import Outcome
from tests.audit import anomaly_reference as before
from tests.support.audit_history import ISS, MONDAY, History
from tests.support.databases import Database

MIN, H, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
OTHER_ISS = "https://other-idp.example"
START = MONDAY.replace(hour=0) - 2 * DAY  # Saturday 00:00 UTC: a weekend, then working days
RULES_UNDER_TEST = AnomalyRules(reads_per_grant=8, customers_per_ticket=3,
                                ticket_window=60 * MIN, denials=4, denial_window=15 * MIN)
# the past (no present: seal_lag is silent), and the same span judged long after
PAST = Window(START + 5 * H, START + 4 * DAY + 3 * H)
LATER = Window(PAST.since, PAST.until, now=START + 9 * DAY)
# the rules as they were, for those whose implementation changed; the others are their own
# reference
REFERENCE: dict[Rule, Rule] = {reads_per_grant: before.reads_per_grant,
                               customers_per_ticket: before.customers_per_ticket,
                               off_hours_access: before.off_hours_access,
                               repeated_denials: before.repeated_denials}
PEOPLE = [Actor(ISS, f"p{i}", f"P {i}", ("requester",)) for i in range(6)] + [
    Actor(OTHER_ISS, "p1", "P 1 elsewhere", ("requester",))]
ADMIN = Actor(ISS, "ada.admin", "Ada", ("approver",))
OFFICER = Actor(ISS, "pia.privacy", "Pia", ("privacy_officer",))


class SeededHistory:
    """A few thousand events of every kind the rules look at, drawn from `seed`, inserted in
    shuffled order (so ids do not follow time) at whole minutes (so times tie)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.events: list[AuditEvent] = []

    def at(self, offset: timedelta) -> datetime:
        return START + timedelta(minutes=int(offset.total_seconds() // 60))

    def anytime(self) -> timedelta:
        return timedelta(minutes=self.rng.randrange(5 * 24 * 60))

    def add(self, action: str, who: Actor, offset: timedelta,
            outcome: Outcome = Outcome.SUCCESS, **fields: object) -> None:
        self.events.append(AuditEvent(action, who, outcome, ts=self.at(offset),
                                      **fields))  # type: ignore[arg-type]

    def access(self, who: Actor, offset: timedelta, grant: str | None, ticket: str | None,
               customer: str | None) -> None:
        action = self.rng.choices(("data.read", "data.revealed", "data.exported"),
                                  (8, 1, 1))[0]
        self.add(action, who, offset, customer_id=customer, grant_id=grant,
                 ticket=ticket, target_type="customer", target_id=customer,
                 details={"scope": "billing", "row_count": 1})

    def build(self) -> list[AuditEvent]:
        self._accesses()
        self._busy_grant()
        self._denials()
        self._breakglass()
        self._disables()
        self._subject_requests()
        self.rng.shuffle(self.events)
        return self.events

    def _accesses(self) -> None:
        rng = self.rng
        for _ in range(60):  # bursts: one person, one ticket, a few customers, minutes apart
            who, base = rng.choice(PEOPLE), self.anytime()
            ticket = rng.choice([f"SUP-{t}" for t in range(8)] + [None])
            for step in range(rng.randrange(1, 7)):
                self.access(rng.choice([who, who, who, rng.choice(PEOPLE)]),
                            base + step * rng.randrange(0, 25) * MIN,
                            rng.choice([f"g{g}" for g in range(12)] + [None]), ticket,
                            rng.choice([f"cust-{c}" for c in range(6)] + [None]))
        for _ in range(400):  # scattered over the days and nights
            self.access(rng.choice(PEOPLE), self.anytime(),
                        rng.choice([f"g{g}" for g in range(30)] + [None]),
                        rng.choice([f"SUP-{t}" for t in range(20)] + [None]),
                        rng.choice([f"cust-{c}" for c in range(12)]))

    def _busy_grant(self) -> None:
        """A grant read 70 times by p0, and by p2 only after the first 50 (not in the
        evidence), and another by both from the start."""
        base = START + 2 * DAY + 9 * H - START
        for i in range(70):
            self.access(PEOPLE[0], base + i * MIN, "busy-1", "SUP-busy", "cust-1")
        self.access(PEOPLE[2], base + 80 * MIN, "busy-1", "SUP-busy", "cust-1")
        for i in range(12):
            self.access(PEOPLE[3 + i % 2], base + i * 3 * MIN, "busy-2", None, "cust-2")

    def _denials(self) -> None:
        rng = self.rng
        kinds = [("data.denied", Outcome.DENIED), ("auth.mfa.failed", Outcome.DENIED),
                 ("auth.login.failed", Outcome.DENIED), ("auth.mfa.failed", Outcome.SUCCESS),
                 ("data.read", Outcome.ERROR)]
        for _ in range(45):
            who, base = rng.choice([*PEOPLE, ADMIN]), self.anytime()
            for step in range(rng.randrange(1, 6)):
                action, outcome = rng.choice(kinds)
                self.add(action, who, base + step * rng.randrange(0, 7) * MIN, outcome)

    def _breakglass(self) -> None:
        for i, review_after in enumerate([2 * H, 30 * H, None, 23 * H, None, 50 * H]):
            offset, grant = self.anytime(), f"bg-{i}"
            self.add("breakglass.activated", PEOPLE[i % len(PEOPLE)], offset,
                     grant_id=grant, customer_id="cust-3")
            if review_after is not None:
                self.add("breakglass.reviewed", ADMIN, offset + review_after, grant_id=grant)

    def _disables(self) -> None:
        for who, off, on in [(PEOPLE[2], 30 * H, 40 * H), (PEOPLE[3], 60 * H, None),
                             (PEOPLE[6], 20 * H, 70 * H)]:
            target = f"{who.iss}|{who.sub}"
            self.add("user.disabled", ADMIN, off, target_type="user", target_id=target)
            if on is not None:
                self.add("user.enabled", ADMIN, on, target_type="user", target_id=target)

    def _subject_requests(self) -> None:
        for i, (due, closed) in enumerate([(40 * H, 60 * H), (40 * H, 30 * H),
                                           (50 * H, None), (400 * H, None)]):
            dsr, offset = f"{i + 1}", timedelta(hours=6 + 10 * i)
            self.add("dsr.filed", OFFICER, offset, target_type="dsr", target_id=dsr,
                     details={"due_at": (START + due).isoformat(), "status": "open"})
            if closed is not None:
                self.add("dsr.released", OFFICER, closed, target_type="dsr", target_id=dsr,
                         details={"status": "closed"})


def seed(engine: Engine, number: int) -> None:
    with write_engine(engine).begin() as conn:
        append_many(conn, SeededHistory(number).build())


@pytest.fixture
def seeded(db: Database) -> Engine:
    seed(db.engine, 17)
    return db.engine


def ordered(flags: list[Flag]) -> list[Flag]:
    """Flags in a fixed order: a rule's own order is not part of its meaning (the page sorts
    them by time)."""
    return sorted(flags, key=lambda f: (f.at, f.subject, f.evidence))


def citations_as_before(conn: Connection, window: Window) -> Counter[tuple[str, str]]:
    """Every rule's flags (as raised before the change), counted per actor of their evidence
    events, as the review evidence used to count them."""
    total: Counter[tuple[str, str]] = Counter()
    for rule in RULES:
        total.update(before.citations(conn, REFERENCE.get(rule, rule)(conn, window,
                                                                     RULES_UNDER_TEST)))
    return total


@pytest.mark.parametrize("window", [PAST, LATER], ids=["past", "judged-later"])
@pytest.mark.parametrize("rule", list(REFERENCE), ids=lambda r: r.__name__)
def test_a_rewritten_rule_raises_the_flags_it_raised_before(seeded: Engine, rule: Rule,
                                                            window: Window) -> None:
    with seeded.connect() as conn:
        now = rule(conn, window, RULES_UNDER_TEST)
        then = REFERENCE[rule](conn, window, RULES_UNDER_TEST)
    assert then, "the seeded history must make the rule fire, or the comparison proves nothing"
    assert ordered(now) == ordered(then)


@pytest.mark.parametrize("window", [PAST, LATER], ids=["past", "judged-later"])
def test_flags_per_actor_counts_what_every_raised_flag_cites(seeded: Engine,
                                                            window: Window) -> None:
    with seeded.connect() as conn:
        fired = {rule.__name__ for rule in RULES if rule(conn, window, RULES_UNDER_TEST)}
        counted = flags_per_actor(conn, window, RULES_UNDER_TEST)
        expected = citations_as_before(conn, window)
    quiet = {"seal_lag"} if window.now is None else set()
    assert fired == {rule.__name__ for rule in RULES} - quiet  # every rule has a say
    assert counted == expected
    assert (OTHER_ISS, "p1") in counted and (ISS, "p1") in counted  # kept apart by issuer


@pytest.mark.parametrize("rule", list(_CITATIONS), ids=lambda r: r.__name__)
def test_each_rule_aggregate_counts_its_own_flags_citations(seeded: Engine, rule: Rule
                                                            ) -> None:
    with seeded.connect() as conn:
        counted = _CITATIONS[rule](conn, LATER, RULES_UNDER_TEST)
        expected = before.citations(conn, REFERENCE[rule](conn, LATER, RULES_UNDER_TEST))
    assert counted and counted == expected


def test_a_busy_grant_cites_only_the_people_in_its_evidence(db: Database) -> None:
    """Evidence is the first 50 accesses: someone who read the grant only after them is not
    cited by its flag, and someone among them is, once per grant however often they read."""
    h = History(db.engine)
    for i in range(60):
        h.read("alice", i * MIN, grant="7", customer="cust-1", ticket="SUP-1")
    h.read("bob", 2 * H, grant="7", customer="cust-1", ticket="SUP-1")
    h.read("carol", 3 * MIN + timedelta(seconds=30), grant="7", customer="cust-1",
           ticket="SUP-1")
    window = Window(MONDAY - DAY, MONDAY + DAY)
    with db.engine.connect() as conn:
        [flag] = reads_per_grant(conn, window, RULES_UNDER_TEST)
        counted = _CITATIONS[reads_per_grant](conn, window, RULES_UNDER_TEST)
    assert len(flag.evidence) == 50 and "62 customer-data accesses" in flag.detail
    assert counted == Counter({(ISS, "alice"): 1, (ISS, "carol"): 1})


def test_a_sweep_across_customers_is_found_across_an_hour_boundary(db: Database) -> None:
    """The candidate tickets are found by hour buckets: a sweep that straddles two buckets
    (10:40 to 11:25) is still flagged, and cites both people who took part."""
    h = History(db.engine)
    sweep = [h.read("alice", 40 * MIN, customer="cust-1", ticket="SUP-9"),
             h.read("bob", 55 * MIN, customer="cust-2", ticket="SUP-9"),
             h.read("alice", 70 * MIN, customer="cust-3", ticket="SUP-9"),
             h.read("alice", 85 * MIN, customer="cust-4", ticket="SUP-9")]
    for i in range(4):  # four customers, but 61 minutes apart: never more than one an hour
        h.read("carol", i * 61 * MIN, customer=f"cust-{i}", ticket="SUP-8")
    window = Window(MONDAY - DAY, MONDAY + DAY)
    with db.engine.connect() as conn:
        [flag] = customers_per_ticket(conn, window, RULES_UNDER_TEST)
        counted = _CITATIONS[customers_per_ticket](conn, window, RULES_UNDER_TEST)
    assert (flag.subject, flag.evidence) == ("ticket SUP-9", tuple(sweep))
    assert counted == Counter({(ISS, "alice"): 1, (ISS, "bob"): 1})


def test_denials_a_minute_short_of_the_span_are_not_a_burst(db: Database) -> None:
    """The LAG aggregate and the rule agree at the edge: four denials spanning exactly the
    window's length are not within it; four spanning a minute less are."""
    h = History(db.engine)
    for i in range(4):
        h.add("data.denied", "alice", i * 5 * MIN, Outcome.DENIED)          # 0..15 min
        h.add("data.denied", "bob", i * 5 * MIN - i * MIN // 3, Outcome.DENIED)  # 0..14 min
    window = Window(MONDAY - DAY, MONDAY + DAY)
    with db.engine.connect() as conn:
        flags = repeated_denials(conn, window, RULES_UNDER_TEST)
        counted = _CITATIONS[repeated_denials](conn, window, RULES_UNDER_TEST)
    assert [f.subject for f in flags] == ["actor bob"]
    assert counted == Counter({(ISS, "bob"): 1})


def test_rules_without_an_aggregate_of_their_own_are_counted_from_their_flags() -> None:
    """The rare rules keep raising their flags for the count; a new rule is counted that way
    until it gets an aggregate, so it can never be left out of the evidence."""
    assert set(_CITATIONS) | {breakglass_unreviewed, activity_after_disable, seal_lag,
                              dsr_overdue} == set(RULES)
