"""A realistic, deterministic demo dataset for one customer-data database.

Contract: `generate` fills an empty customer database with `customers` companies shaped after
the product's seeds (accounts and contacts, subscriptions and their lifecycle events, monthly
invoices, app telemetry, device metadata, bot execution metadata). The same `seed`,
`customers` and `today` always give the same plaintext rows and ids; only ciphertexts and data
keys differ, as they must. Who each customer is (name, plan, region, contacts) does not depend on
`today` either: each customer draws from its own generator, so a history that is longer on a
later day never shifts the next customer's draws. Every customer gets its own data key, and
every `LargeBinary` column of the schema is written sealed with it, as the production
application would write it; every contact's email gets its blind-index row
(`access.data.subject_index`), as a production writer must. It refuses (InvalidInput) a
database that already holds customer data, and writes everything in one transaction.

Names and contact details are made from small built-in lists; emails use `.example` domains
(RFC 2606) and phone numbers the ranges set aside for fiction, so no real person is described.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, LargeBinary, func, insert, select

from access.data.customer_db.schema import ContactEmailIndex, CustomerBase, create_schema
from access.data.envelope import MasterKey, create_data_key, seal_value
from access.data.subject_index import BlindIndex, index_rows
from access.errors import InvalidInput
from audit.engine import write_engine

__all__ = ["FEATURED_CUSTOMER", "GenerationReport", "generate"]

FEATURED_CUSTOMER = "cust-0042"  # always present (when customers >= 42) and always active
MAX_CUSTOMERS = 9999  # ids are cust-0001 … cust-9999

FIRST = ("Amara", "Ben", "Chloé", "Daniel", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Kavya", "Liam", "Maya", "Nikolai", "Olivia", "Pablo", "Quinn", "Rosa", "Sami", "Tara",
         "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri")
LAST = ("Okafor", "Schneider", "Dubois", "Kowalski", "Yilmaz", "Haddad", "Lindqvist", "Tanaka",
        "Moreau", "Becker", "Iyer", "O'Brien", "Patel", "Volkov", "Nguyen", "García", "Murphy",
        "Rossi", "Karimi", "Andersen", "Hassan", "Novak", "Chen", "Herrera", "Demir", "Walsh")
BRAND = ("Blue Finch", "Northwind", "Lumen", "Pocket", "Tidal", "Kite", "Mosaic", "Pinecone",
         "Quartz", "Orbit", "Saffron", "Harbor", "Nimbus", "Velvet", "Copper", "Juniper")
TRADE = ("Apps", "Labs", "Studio", "Games", "Health", "Fitness", "Media", "Learning", "Travel")
TITLES = ("Head of Growth", "CTO", "Product Manager", "Mobile Lead", "Finance Manager",
          "Founder", "Data Analyst", "Marketing Director", "Engineering Manager")
# region → currency, phone number pattern (ranges reserved for fiction), locales, legal forms
REGIONS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "us-east": ("USD", "+1 202-555-01{:02d}", ("en_US", "es_US"), ("Inc.", "LLC")),
    "eu-central": ("EUR", "+33 1 99 00 00 {:02d}", ("de_DE", "fr_FR", "nl_NL", "it_IT"),
                   ("GmbH", "SAS", "BV", "S.r.l.")),
    "uk-south": ("GBP", "+44 7700 9000{:02d}", ("en_GB",), ("Ltd", "LLP")),
    "ap-southeast": ("USD", "+61 2 5550 01{:02d}", ("en_AU", "ja_JP", "ko_KR"), ("Pty Ltd",)),
}
PLANS = {"starter": 4_900, "growth": 19_900, "scale": 79_900}  # monthly, in cents
PRODUCTS = {"analytics": 1.0, "paywall_ab": 0.8, "retention": 0.6, "bot_pipelines": 1.5}
SCREENS = ("home", "paywall", "settings", "profile", "catalog", "checkout")
ONBOARDING = ("onboarding_1", "onboarding_2", "onboarding_3")
OS_VERSIONS = {"ios": ("16.7", "17.5", "18.1", "18.2"), "android": ("12", "13", "14", "15"),
               "web": ("Chrome 131", "Safari 18", "Firefox 133")}
PIPELINES = {"invoice-sync": ("fetch", "transform", "post"),
             "lead-router": ("ingest", "score", "assign", "notify"),
             "churn-alerts": ("query", "classify", "notify"),
             "support-triage": ("ingest", "classify", "route")}


@dataclass(frozen=True)
class GenerationReport:
    customers: int
    rows: dict[str, int]  # table name → rows written, including customer_keys


def generate(engine: Engine, master: MasterKey, customers: int = 60, seed: int = 7,
             today: datetime | None = None, *, index: BlindIndex) -> GenerationReport:
    """Create the schema if needed and write the dataset described in the module contract.

    About 10% of customers are terminated, half 10–50 days ago (still retained) and half 70–200
    days ago (due for the 60-day purge); at least 2 of each when customers >= 20.
    InvalidInput on "customers" (1..9999), "today" (must be timezone-aware) or "database"
    (already holds customer data).
    """
    if isinstance(customers, bool) or not isinstance(customers, int) \
            or not 1 <= customers <= MAX_CUSTOMERS:
        raise InvalidInput("customers", f"must be a whole number from 1 to {MAX_CUSTOMERS}")
    if today is not None and today.utcoffset() is None:
        raise InvalidInput("today", "must be a timezone-aware datetime")
    rows = _Dataset(seed, (today or datetime.now(UTC)).astimezone(UTC))
    rows.build(customers)
    create_schema(engine)
    with write_engine(engine).begin() as conn:
        _refuse_existing(conn)
        keys = {customer["customer_id"]: create_data_key(conn, master, customer["customer_id"],
                                                         customer["created_at"])
                for customer in rows.tables["customers"]}
        emails = index_rows(index, rows.tables.get("contacts", []))  # before sealing
        _seal(rows.tables, keys)
        for name, table in CustomerBase.metadata.tables.items():
            if rows.tables.get(name):
                conn.execute(table.insert(), rows.tables[name])
        if emails:
            conn.execute(insert(ContactEmailIndex), emails)
    counts = {name: len(rows.tables.get(name, [])) for name in CustomerBase.metadata.tables}
    return GenerationReport(customers, counts | {"customer_keys": customers})


def _refuse_existing(conn: Connection) -> None:
    tables = CustomerBase.metadata.tables
    for name in ("customers", "customer_keys"):
        if conn.execute(select(func.count()).select_from(tables[name])).scalar_one():
            raise InvalidInput("database", f"already holds customer data ({name} is not "
                                           "empty): generate only into an empty database")


def _sealed_columns() -> dict[str, tuple[str, ...]]:
    """Binary columns hold sealed values: the schema, not a second list, says which."""
    return {name: tuple(c.name for c in table.columns if isinstance(c.type, LargeBinary))
            for name, table in CustomerBase.metadata.tables.items() if name != "customer_keys"}


def _seal(tables: dict[str, list[dict[str, Any]]], keys: dict[str, bytes]) -> None:
    """Replace each sensitive plaintext by its value sealed with its customer's data key."""
    for name, columns in _sealed_columns().items():
        for row in tables.get(name, []):
            customer_id = row["customer_id"]
            for column in columns:
                row[column] = seal_value(keys[customer_id], customer_id, name, column,
                                         row["id"], row[column])


class _Dataset:
    """Plaintext rows per table, built customer by customer from one seeded generator."""

    def __init__(self, seed: int, today: datetime) -> None:
        self.seed, self.rng, self.today = seed, random.Random(seed), today
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.terminations: dict[str, int] = {}  # customer id → days since termination

    def add(self, table: str, **values: Any) -> int:
        rows = self.tables.setdefault(table, [])
        rows.append({"id": len(rows) + 1, **values})
        return len(rows)

    def build(self, customers: int) -> None:
        self.plan_terminations(customers)
        for number in range(1, customers + 1):
            self.rng = random.Random(f"{self.seed}/cust-{number:04d}")
            self.customer(f"cust-{number:04d}")

    def customer(self, customer_id: str) -> None:
        rng = self.rng
        days_ago = self.terminations.get(customer_id)
        end = self.today - timedelta(days=days_ago) if days_ago is not None else self.today
        created = _at(rng, end - timedelta(days=1000), end - timedelta(days=60))
        region = rng.choice(sorted(REGIONS))
        brand, trade = rng.choice(BRAND), rng.choice(TRADE)
        plan = rng.choices(list(PLANS), weights=(5, 3, 1))[0]
        legal_form = rng.choice(REGIONS[region][3])
        self.tables.setdefault("customers", []).append({
            "customer_id": customer_id, "company_name": f"{brand} {trade} {legal_form}",
            "plan": plan, "status": "active" if days_ago is None else "terminated",
            "region": region, "created_at": created,
            "terminated_at": None if days_ago is None else end})
        domain = f"{brand}{trade}".lower().replace(" ", "") + ".example"
        life = _Life(customer_id, region, plan, created, end, days_ago is not None)
        self.contacts(life, domain)
        self.subscriptions(life)
        self.invoices(life)
        self.telemetry(life)
        self.devices(life)
        self.bot_runs(life)

    def plan_terminations(self, customers: int) -> None:
        """Pick who is terminated and when (never the featured customer)."""
        rng, wanted = self.rng, round(customers * 0.1)
        retained = max(2, wanted // 2) if customers >= 20 else wanted // 2
        purgeable = max(2, wanted - wanted // 2) if customers >= 20 else wanted - wanted // 2
        candidates = [f"cust-{n:04d}" for n in range(1, customers + 1)
                      if f"cust-{n:04d}" != FEATURED_CUSTOMER]
        chosen = rng.sample(candidates, retained + purgeable)
        for customer_id in chosen[:retained]:
            self.terminations[customer_id] = rng.randint(10, 50)
        for customer_id in chosen[retained:]:
            self.terminations[customer_id] = rng.randint(70, 200)

    def contacts(self, life: _Life, domain: str) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = _ascii(f"{first}.{last}".lower().replace("'", ""))
            self.add("contacts", customer_id=life.customer_id, full_name=f"{first} {last}",
                     email=f"{local}@{domain}",
                     phone=REGIONS[life.region][1].format(rng.randint(0, 99)),
                     job_title=rng.choice(TITLES))

    def subscriptions(self, life: _Life) -> None:
        rng = self.rng
        for product in rng.sample(sorted(PRODUCTS), rng.randint(1, 3)):
            start = _at(rng, life.created, min(life.created + timedelta(days=60), life.end))
            price = round(PLANS[life.plan] * PRODUCTS[product])
            cycle = _lifecycle(rng, start, life, price)
            sub_id = self.add("subscriptions", customer_id=life.customer_id, product=product,
                              plan=life.plan, status=cycle.status, started_at=start,
                              renews_at=cycle.renews_at, cancelled_at=cycle.cancelled_at)
            for kind, at, amount in cycle.steps:
                self.add("subscription_events", customer_id=life.customer_id,
                         subscription_id=sub_id, kind=kind, occurred_at=at, amount_cents=amount,
                         currency=life.currency)
            life.charges += [(at, amount) for _, at, amount in cycle.steps if amount]

    def invoices(self, life: _Life) -> None:
        """One invoice a month for the charges since the last one, and a final one at
        termination; the newest invoice of an active customer is still open."""
        rng, card = self.rng, f"{self.rng.randint(0, 9999):04d}"
        issue_dates = []
        month = 1
        while (issued := _months_after(life.created, month)) <= life.end:
            issue_dates.append(issued)
            month += 1
        if life.terminated:
            issue_dates.append(life.end)
        since = life.created - timedelta(seconds=1)
        for number, issued in enumerate(issue_dates, start=1):
            amount = sum(cents for at, cents in life.charges if since < at <= issued)
            since = issued
            if not amount:
                continue
            newest = number == len(issue_dates) and not life.terminated
            status = "open" if newest else rng.choices(("paid", "failed", "refunded"),
                                                       weights=(95, 3, 2))[0]
            self.add("invoices", customer_id=life.customer_id, issued_at=issued,
                     amount_cents=amount, currency=life.currency, status=status,
                     card_last4=card)

    def telemetry(self, life: _Life) -> None:
        """Sessions of the customer's app users over its last 90 days: some are a new user's
        onboarding, the rest screen views, with a conversion now and then on the paywall."""
        rng = self.rng
        window = max(life.created, life.end - timedelta(days=90))
        for at in sorted(_at(rng, window, life.end) for _ in range(rng.randint(8, 16))):
            session = f"{rng.getrandbits(64):016x}"
            screens = [rng.choice(SCREENS) for _ in range(rng.randint(3, 6))]
            if rng.random() < 0.3:
                screens = [*ONBOARDING, *screens]
            for step, screen in enumerate(screens):
                event = "onboarding_completed" if screen == ONBOARDING[-1] else \
                    "conversion" if screen == "paywall" and rng.random() < 0.3 else "screen_view"
                self.add("telemetry_events", customer_id=life.customer_id,
                         occurred_at=min(at + timedelta(seconds=40 * step), life.end),
                         event=event, screen=screen, session_hash=session)

    def devices(self, life: _Life) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 5)):
            platform = rng.choices(("ios", "android", "web"), weights=(5, 4, 1))[0]
            self.add("devices", customer_id=life.customer_id, platform=platform,
                     os_version=rng.choice(OS_VERSIONS[platform]),
                     app_version=f"4.{rng.randint(0, 12)}.{rng.randint(0, 5)}",
                     locale=rng.choice(REGIONS[life.region][2]),
                     last_seen_at=_at(rng, max(life.created, life.end - timedelta(days=30)),
                                      life.end))

    def bot_runs(self, life: _Life) -> None:
        rng = self.rng
        window = max(life.created, life.end - timedelta(days=60))
        for at in sorted(_at(rng, window, life.end) for _ in range(rng.randint(10, 60))):
            pipeline = rng.choice(sorted(PIPELINES))
            ok = rng.random() < 0.93
            self.add("bot_runs", customer_id=life.customer_id, pipeline=pipeline,
                     node=rng.choice(PIPELINES[pipeline]),
                     status="success" if ok else "failure",
                     duration_ms=int(rng.lognormvariate(6.5 if ok else 7.5, 0.8)), started_at=at)


@dataclass
class _Life:
    """One customer's lifetime: from `created` to `end` (termination, or today)."""

    customer_id: str
    region: str
    plan: str
    created: datetime
    end: datetime
    terminated: bool
    charges: list[tuple[datetime, int]] = field(default_factory=list)  # (when, cents)

    @property
    def currency(self) -> str:
        return REGIONS[self.region][0]


@dataclass
class _Lifecycle:
    steps: list[tuple[str, datetime, int]]  # (kind, when, amount in cents)
    paid_from: datetime | None = None       # first charge; None while trialing or if never paid
    cancelled_at: datetime | None = None
    renews_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        return "trialing" if self.paid_from is None else "active"


TRIAL = timedelta(days=14)


def _lifecycle(rng: random.Random, start: datetime, life: _Life, price: int) -> _Lifecycle:
    """A subscription's events: an optional 14-day trial, then a purchase (or conversion) and
    monthly renewals until cancellation. A terminated customer's subscriptions all end by its
    termination; an active customer cancels one now and then."""
    if rng.random() < 0.4:
        cycle = _Lifecycle([("trial_started", start, 0)])
        trial_end = start + TRIAL
        if trial_end >= life.end:
            if life.terminated:
                return _cancel(cycle, life.end)
            cycle.renews_at = trial_end
            return cycle
        if rng.random() < 0.2:
            return _cancel(cycle, trial_end)
        cycle.steps.append(("trial_converted", trial_end, price))
        paid_from = trial_end
    else:
        cycle, paid_from = _Lifecycle([("purchase", start, price)]), start
    cycle.paid_from = paid_from
    cancel = life.end if life.terminated else \
        _at(rng, paid_from, life.end) if rng.random() < 0.15 else None
    month = 1
    while (renewal := _months_after(paid_from, month)) < (cancel or life.end):
        cycle.steps.append(("renewal", renewal, price))
        month += 1
    cycle.renews_at = renewal
    return _cancel(cycle, cancel) if cancel is not None else cycle


def _cancel(cycle: _Lifecycle, at: datetime) -> _Lifecycle:
    cycle.steps.append(("cancellation", at, 0))
    cycle.cancelled_at, cycle.renews_at = at, None
    return cycle


def _at(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole-second instant in [start, end), or `start` when the span is empty."""
    seconds = int((end - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds)) if seconds > 0 else start


def _months_after(at: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later; days past the 28th clamp to it,
    so every month has the date."""
    years, month = divmod(at.month - 1 + months, 12)
    return at.replace(year=at.year + years, month=month + 1, day=min(at.day, 28))


def _ascii(text: str) -> str:
    """"chloé.garcía" → "chloe.garcia": email local parts stay plain ASCII."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
