"""Tables of the audit log. Every one is append-only (triggers in the migrations).

- `audit_events`: the events, written in the caller's transaction.
- `audit_leaves`: the sealer's order: leaf index (gap-free from 0) → event, with its leaf hash.
- `audit_nodes`: hashes of complete subtrees of 2**8 leaves and up (RFC 6962 §2.1), so an
  inclusion proof reads O(log n) rows instead of rehashing the log.
- `audit_checkpoints`: signed tree heads, each chained to the previous one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only gives a 64-bit rowid alias to INTEGER PRIMARY KEY, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Details = JSON().with_variant(JSONB(), "postgresql")

APPEND_ONLY_TABLES = ("audit_events", "audit_leaves", "audit_nodes", "audit_checkpoints")


class AuditBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class AuditEventRow(AuditBase):
    __tablename__ = "audit_events"

    # An identity column needs no grant on a sequence: INSERT on the table is enough.
    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    ts_us: Mapped[int] = mapped_column(BigInteger, comment="UTC microseconds since the epoch")
    actor_iss: Mapped[str] = mapped_column(Text)
    actor_sub: Mapped[str] = mapped_column(Text)
    actor_name: Mapped[str | None] = mapped_column(Text)
    actor_roles: Mapped[str] = mapped_column(Text, comment="space-separated role names")
    session_id: Mapped[str | None] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str | None] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    grant_id: Mapped[str | None] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(Details)
    # PostgreSQL fills this with the writing transaction's id (see the migration); the sealer
    # seals only below the oldest in-flight transaction, because ids commit out of order there.
    txid: Mapped[int | None] = mapped_column(BigInteger)


class AuditLeafRow(AuditBase):
    __tablename__ = "audit_leaves"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("audit_events.id"), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNodeRow(AuditBase):
    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(AuditBase):
    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    ts_us: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, comment="the signed note, exactly as published")


# Core handles: the log is written and read through Core, not ORM objects (an order of
# magnitude cheaper per row).
events_table: Table = AuditEventRow.__table__  # type: ignore[assignment]
leaves_table: Table = AuditLeafRow.__table__  # type: ignore[assignment]
nodes_table: Table = AuditNodeRow.__table__  # type: ignore[assignment]
checkpoints_table: Table = AuditCheckpointRow.__table__  # type: ignore[assignment]
