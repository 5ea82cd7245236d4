"""Tables of a customer-data database (one per environment), shaped after the product's seeds.

Contract:
- Every table but `customer_keys` has an integer `id` primary key and an indexed `customer_id`
  column: the broker binds every query to one customer through it, and `id` is the row id
  bound into each sealed value's AAD (`access.data.envelope.seal_value`).
- Columns typed `LargeBinary` under a plain-text meaning (names, emails, phones, card digits)
  hold values sealed with the customer's data key, never plaintext.
- `customer_keys` holds each customer's data key wrapped by the master key; the master key
  itself is never stored here. It is not in the catalog, so no grant can ever read it.
- No foreign keys on `customer_id`: the retention purge deletes table by table in catalog
  order, and a customer's key row must outlive its data (its `destroyed_at` is the record that
  the data was crypto-shredded).
- Timestamps are aware UTC datetimes on every engine.
- `contact_email_index` (its own MetaData, `IndexBase`: it is Gatehouse's, not the product's
  shape) holds the keyed blind index of each contact's email (`access.data.subject_index`):
  finding a data subject by email reads this table, never decrypts every contact. Like
  `customer_keys` it can never be catalogued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Integer, LargeBinary, MetaData, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from access.schema import UtcDateTime
from audit.schema import NAMING

__all__ = ["BotRun", "Contact", "ContactEmailIndex", "Customer", "CustomerBase", "CustomerKey",
           "Device", "IndexBase", "Invoice", "Subscription", "SubscriptionEvent",
           "TelemetryEvent", "create_schema"]


class CustomerBase(DeclarativeBase):
    """Its own MetaData: these tables never live in the console database."""

    metadata = MetaData(naming_convention=NAMING)


def _customer_id() -> Mapped[str]:
    return mapped_column(Text, index=True)


class Customer(CustomerBase):
    """A subscribing company. `status` is 'active' or 'terminated'; the 60-day retention clock
    starts at `terminated_at`."""

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    company_name: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Contact(CustomerBase):
    """A person at the customer (account data). Name, email and phone are sealed."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    full_name: Mapped[bytes] = mapped_column(LargeBinary)
    email: Mapped[bytes] = mapped_column(LargeBinary)
    phone: Mapped[bytes] = mapped_column(LargeBinary)
    job_title: Mapped[str] = mapped_column(Text)


class Subscription(CustomerBase):
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    product: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # 'trialing' | 'active' | 'cancelled'
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    renews_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SubscriptionEvent(CustomerBase):
    """One lifecycle step: 'purchase', 'renewal', 'cancellation', 'trial_started' or
    'trial_converted'. `amount_cents` is 0 for steps that charge nothing."""

    __tablename__ = "subscription_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    subscription_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(Text)


class Invoice(CustomerBase):
    """A monthly invoice. `card_last4` is sealed: payment data is financial."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # 'paid' | 'open' | 'failed' | 'refunded'
    card_last4: Mapped[bytes] = mapped_column(LargeBinary)


class TelemetryEvent(CustomerBase):
    """An in-app event from the SDK: 'screen_view', 'onboarding_completed' or 'conversion'."""

    __tablename__ = "telemetry_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(Text)
    screen: Mapped[str] = mapped_column(Text)
    session_hash: Mapped[str] = mapped_column(Text)


class Device(CustomerBase):
    """Device metadata (non-sensitive by the SDK's own account: platform, version, locale)."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    platform: Mapped[str] = mapped_column(Text)
    os_version: Mapped[str] = mapped_column(Text)
    app_version: Mapped[str] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(Text)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BotRun(CustomerBase):
    """Bot execution metadata: which pipeline node ran, how it ended, how long it took.
    Execution payloads are never stored (privacy policy: "we do not store the content")."""

    __tablename__ = "bot_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    pipeline: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # 'success' | 'failure'
    duration_ms: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustomerKey(CustomerBase):
    """A customer's AES-256 data key, wrapped by the master key named by `master_key_id`.
    Destroying it (crypto-shredding) sets `wrapped_key` to NULL and `destroyed_at`."""

    __tablename__ = "customer_keys"

    customer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    destroyed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IndexBase(DeclarativeBase):
    """Gatehouse's own tables beside the product's: never catalogued, never read by a grant."""

    metadata = MetaData(naming_convention=NAMING)


class ContactEmailIndex(IndexBase):
    """One row per contact: HMAC-SHA256 of its normalised email under the blind-index key
    (hex). Written by whatever writes the contact (the generator, a rectification)."""

    __tablename__ = "contact_email_index"

    contact_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[str] = _customer_id()
    email_index: Mapped[str] = mapped_column(Text, index=True)


def create_schema(engine: Engine) -> None:
    """Create every missing table (idempotent: existing tables are left as they are)."""
    CustomerBase.metadata.create_all(engine)
    IndexBase.metadata.create_all(engine)
