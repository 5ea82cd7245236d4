"""The demo customer-data generator: deterministic, shaped after the seeds, sensitive columns
sealed with each customer's own key, and never written twice into one database."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import LargeBinary, func, select

from access.data.customer_db.schema import CustomerBase
from access.data.envelope import LocalMasterKey, ValueUnreadable, data_key, open_value
from access.data.subject_index import BlindIndex
from access.errors import InvalidInput
from access.ops.generate_customers import GenerationReport, generate
from audit.engine import make_engine

TODAY = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
TABLES = CustomerBase.metadata.tables
SEALED = {name: [c.name for c in table.columns if isinstance(c.type, LargeBinary)]
          for name, table in TABLES.items() if name != "customer_keys"}


class Generated:
    """One generated database file, with the master key that wraps its data keys."""

    def __init__(self, path: Path, customers: int = 60, seed: int = 7,
                 today: datetime = TODAY) -> None:
        self.path, self.master = path, LocalMasterKey(os.urandom(32))
        self.engine = make_engine(f"sqlite:///{path}")
        self.report = generate(self.engine, self.master, customers=customers, seed=seed,
                               today=today, index=BlindIndex(os.urandom(32)))

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of `table` by primary key, sealed columns opened with their customer's key."""
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(
                select(TABLES[table]).order_by(*TABLES[table].primary_key.columns))]
            keys = {c: data_key(conn, self.master, c) for c in {r["customer_id"] for r in rows}}
        for row in rows:
            for column in SEALED.get(table, []):
                row[column] = open_value(keys[row["customer_id"]], row["customer_id"], table,
                                         column, row["id"], row[column])
        return rows

    def plaintext(self) -> dict[str, list[dict[str, Any]]]:
        dump = {name: self.rows(name) for name in TABLES if name != "customer_keys"}
        with self.engine.connect() as conn:
            dump["customer_keys"] = [dict(r._mapping) for r in conn.execute(
                select(TABLES["customer_keys"].c.customer_id, TABLES["customer_keys"].c.created_at,
                       TABLES["customer_keys"].c.destroyed_at).order_by("customer_id"))]
        return dump

    def file_bytes(self) -> bytes:
        self.engine.dispose()
        return b"".join(p.read_bytes() for p in self.path.parent.glob(self.path.name + "*"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """One 60-customer database shared by the tests that only read it."""
    generated = Generated(tmp_path_factory.mktemp("demo") / "customers.db")
    yield generated
    generated.engine.dispose()


def by_customer(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["customer_id"]].append(row)
    return grouped


# Determinism and size


def test_same_seed_gives_identical_plaintext_rows(tmp_path: Path, demo: Generated) -> None:
    again = Generated(tmp_path / "again.db")
    assert again.plaintext() == demo.plaintext()
    with demo.engine.connect() as one, again.engine.connect() as two:
        query = select(TABLES["contacts"].c.email).order_by("id")
        assert one.execute(query).scalars().first() != two.execute(query).scalars().first()
    again.engine.dispose()  # ciphertexts differ: data keys are random, never derived from seed


def test_who_each_customer_is_does_not_depend_on_the_day_of_generation(
        tmp_path: Path, demo: Generated) -> None:
    """A later day moves every history (invoices, renewals, telemetry); the browser tests and
    the README's tour name customers by what they hold, so the people stay put."""
    later = Generated(tmp_path / "later.db", today=TODAY + timedelta(days=97))

    def who(g: Generated) -> dict[str, list[tuple[str, str, str]]]:
        return {c: [(r["full_name"], r["email"], r["job_title"]) for r in rows]
                for c, rows in by_customer(g.rows("contacts")).items()}

    assert who(later) == who(demo)
    assert [(r["company_name"], r["plan"]) for r in later.rows("customers")] == \
        [(r["company_name"], r["plan"]) for r in demo.rows("customers")]
    assert later.rows("invoices") != demo.rows("invoices")  # the day did matter
    later.engine.dispose()


def test_another_seed_gives_other_data(tmp_path: Path, demo: Generated) -> None:
    other = Generated(tmp_path / "other.db", seed=8)
    assert other.rows("contacts") != demo.rows("contacts")
    other.engine.dispose()


@pytest.mark.parametrize("customers", [1, 5, 45])
def test_size_is_adjustable(tmp_path: Path, customers: int) -> None:
    generated = Generated(tmp_path / "sized.db", customers=customers)
    ids = [row["customer_id"] for row in generated.rows("customers")]
    assert ids == [f"cust-{n:04d}" for n in range(1, customers + 1)]
    assert generated.report.customers == customers
    generated.engine.dispose()


def test_report_counts_every_row_written(demo: Generated) -> None:
    with demo.engine.connect() as conn:
        counts = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                  for name, table in TABLES.items()}
    assert demo.report == GenerationReport(60, counts)


# Shape, after the seeds


def test_every_customer_has_data_in_every_scope_within_promised_ranges(demo: Generated) -> None:
    customers = [row["customer_id"] for row in demo.rows("customers")]
    ranges = {"contacts": (1, 4), "subscriptions": (1, 3), "devices": (1, 5),
              "telemetry_events": (24, 200), "bot_runs": (10, 60)}
    for table, (low, high) in ranges.items():
        counts = Counter(row["customer_id"] for row in demo.rows(table))
        assert {c: n for c, n in counts.items() if not low <= n <= high} == {}, table
        assert set(counts) == set(customers), table


def test_featured_customer_exists_and_is_active(demo: Generated) -> None:
    customers = {row["customer_id"]: row for row in demo.rows("customers")}
    assert customers["cust-0042"]["status"] == "active"


def test_subscription_events_tell_a_coherent_lifecycle(demo: Generated) -> None:
    events = defaultdict(list)
    for event in demo.rows("subscription_events"):
        events[event["subscription_id"]].append(event)
    subscriptions = demo.rows("subscriptions")
    assert set(events) == {s["id"] for s in subscriptions}
    for sub in subscriptions:
        steps = events[sub["id"]]
        kinds = [e["kind"] for e in steps]
        assert kinds[0] in {"purchase", "trial_started"}
        assert [e["occurred_at"] for e in steps] == sorted(e["occurred_at"] for e in steps)
        assert all(e["customer_id"] == sub["customer_id"] for e in steps)
        assert all((e["amount_cents"] > 0) == (e["kind"] in {"purchase", "renewal",
                                                              "trial_converted"}) for e in steps)
        if sub["status"] == "cancelled":
            assert kinds[-1] == "cancellation"
            assert steps[-1]["occurred_at"] == sub["cancelled_at"] and sub["renews_at"] is None
        else:
            assert "cancellation" not in kinds and sub["renews_at"] > TODAY
    assert Counter(e["kind"] for rows in events.values() for e in rows).keys() == {
        "purchase", "renewal", "cancellation", "trial_started", "trial_converted"}


def test_invoices_bill_exactly_the_charged_lifecycle_events(demo: Generated) -> None:
    charges = by_customer([e for e in demo.rows("subscription_events") if e["amount_cents"]])
    invoices = by_customer(demo.rows("invoices"))
    terminated = {r["customer_id"] for r in demo.rows("customers") if r["terminated_at"]}
    assert len(invoices) > 0.9 * len(charges)
    for customer_id, billed in invoices.items():
        last = max(invoice["issued_at"] for invoice in billed)
        charged = [c for c in charges[customer_id] if c["occurred_at"] <= last]
        assert sum(i["amount_cents"] for i in billed) == sum(c["amount_cents"] for c in charged)
        if customer_id in terminated:  # the final invoice at termination bills the rest
            assert len(charged) == len(charges[customer_id])
        assert {i["currency"] for i in billed} == {c["currency"] for c in charged}
        assert len({i["card_last4"] for i in billed}) == 1


def test_vocabularies_are_the_documented_ones(demo: Generated) -> None:
    def values(table: str, column: str) -> set[Any]:
        return {row[column] for row in demo.rows(table)}

    assert values("customers", "status") == {"active", "terminated"}
    assert values("telemetry_events", "event") == {"screen_view", "onboarding_completed",
                                                   "conversion"}
    assert values("bot_runs", "status") == {"success", "failure"}
    assert values("devices", "platform") == {"ios", "android", "web"}
    assert all(len(v) == 4 and v.isdigit() for v in values("invoices", "card_last4"))


def test_timestamps_are_aware_utc_and_never_in_the_future(demo: Generated) -> None:
    for table in ("customers", "subscription_events", "invoices", "telemetry_events",
                  "devices", "bot_runs"):
        for row in demo.rows(table):
            for value in row.values():
                if isinstance(value, datetime):
                    assert value.tzinfo is UTC and value <= TODAY, (table, row)


# Terminated customers and the 60-day purge


@pytest.mark.parametrize("customers", [20, 60, 200])
def test_about_ten_percent_are_terminated_some_retained_some_due_for_purge(
        tmp_path: Path, customers: int) -> None:
    generated = Generated(tmp_path / "terminated.db", customers=customers)
    rows = generated.rows("customers")
    terminated = [r for r in rows if r["status"] == "terminated"]
    assert all((r["terminated_at"] is None) == (r["status"] == "active") for r in rows)
    ages = [(TODAY - r["terminated_at"]).days for r in terminated]
    retained = [days for days in ages if 10 <= days <= 50]
    due = [days for days in ages if 70 <= days <= 200]
    assert len(retained) >= 2 and len(due) >= 2
    assert len(retained) + len(due) == len(terminated)  # none near the 60-day edge
    assert len(terminated) == max(4, round(customers * 0.1))
    generated.engine.dispose()


def test_terminated_customers_stop_producing_data_at_termination(demo: Generated) -> None:
    ended = {r["customer_id"]: r["terminated_at"] for r in demo.rows("customers")
             if r["terminated_at"] is not None}
    for sub in demo.rows("subscriptions"):
        if sub["customer_id"] in ended:
            assert sub["status"] == "cancelled"
            assert sub["cancelled_at"] <= ended[sub["customer_id"]]
    for table, column in (("invoices", "issued_at"), ("telemetry_events", "occurred_at"),
                          ("bot_runs", "started_at"), ("devices", "last_seen_at"),
                          ("subscription_events", "occurred_at")):
        late = [r for r in demo.rows(table)
                if r["customer_id"] in ended and r[column] > ended[r["customer_id"]]]
        assert late == [], table


# Sensitive data at rest


def test_pii_never_appears_in_plaintext_in_the_database_file(demo: Generated) -> None:
    contacts = demo.rows("contacts")
    company = demo.rows("customers")[0]["company_name"]
    stored = demo.file_bytes()
    assert company.encode() in stored  # the scan sees plain columns, so it would see PII too
    leaked = [value for row in contacts for value in (row["email"], row["full_name"],
                                                      row["phone"])
              if value.encode() in stored]
    assert leaked == []
    assert all("@" in row["email"] and row["email"].endswith(".example") for row in contacts)


def test_each_customers_values_open_only_with_that_customers_key(demo: Generated) -> None:
    first, second = by_customer(demo.rows("contacts"))["cust-0001"][0], "cust-0002"
    with demo.engine.connect() as conn:
        sealed = conn.execute(select(TABLES["contacts"].c.email)
                              .where(TABLES["contacts"].c.id == first["id"])).scalar_one()
        wrong_key = data_key(conn, demo.master, second)
    with pytest.raises(ValueUnreadable):
        open_value(wrong_key, "cust-0001", "contacts", "email", first["id"], sealed)


# Refusals


def test_refuses_to_generate_into_a_database_that_has_customers(demo: Generated) -> None:
    before = demo.plaintext()
    with pytest.raises(InvalidInput) as caught:
        generate(demo.engine, demo.master, customers=5, seed=99, today=TODAY,
                 index=BlindIndex(os.urandom(32)))
    assert caught.value.field == "database"
    assert demo.plaintext() == before


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"customers": 0}, "customers"),
    ({"customers": 10_000}, "customers"),
    ({"customers": True}, "customers"),
    ({"today": datetime(2026, 5, 1)}, "today"),
])
def test_refuses_bad_arguments_and_writes_nothing(tmp_path: Path, kwargs: dict[str, Any],
                                                  field: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bad.db'}")
    with pytest.raises(InvalidInput) as caught:
        generate(engine, LocalMasterKey(os.urandom(32)), **kwargs,
                 index=BlindIndex(os.urandom(32)))
    assert caught.value.field == field
    engine.dispose()
    assert not (tmp_path / "bad.db").exists() or (tmp_path / "bad.db").stat().st_size == 0


def test_default_today_is_now(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'now.db'}")
    generate(engine, LocalMasterKey(os.urandom(32)), customers=2,
             index=BlindIndex(os.urandom(32)))  # too few to terminate any
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(TABLES["devices"].c.last_seen_at))).scalar_one()
    engine.dispose()
    # every active customer's devices were seen in its last 30 days
    assert datetime.now(UTC) - timedelta(days=30) < newest.replace(tzinfo=UTC) <= datetime.now(UTC)
