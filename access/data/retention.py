"""The 60-day purge: customers whose subscription ended longer ago than the retention period
lose their rows, and their data key is destroyed (crypto-shredding), so any copy or backup of
their ciphertext is unreadable too.

Order, for crash safety and exactly one audit event per customer:
1. the tombstone and the `customer.purged` event commit together in the console database
   (from then on every request, grant and read for the customer is refused);
2. the key is destroyed and every catalogued row deleted in one customer-database transaction.
A run that dies between the two leaves the customer due; the next run skips step 1 (the
tombstone exists) and finishes step 2. Running again after success finds nothing to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, select

from access.context import Gatehouse, system_event
from access.data.customer_db.schema import Customer, CustomerBase
from access.data.envelope import destroy_data_key
from access.data.subject_index import forget_customer
from access.errors import InvalidInput
from access.schema import PurgedCustomer
from audit.engine import is_sqlite, write_engine

DEFAULT_RETENTION = timedelta(days=60)


def retention_from_env() -> timedelta:
    text = os.environ.get("GATEHOUSE_RETENTION_DAYS", "60")
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise InvalidInput("GATEHOUSE_RETENTION_DAYS", "must be a whole number of days, 1-3650")
    return timedelta(days=int(text))


@dataclass(frozen=True)
class PurgeCandidate:
    environment: str
    customer_id: str
    terminated_at: datetime
    rows: dict[str, int]


def due(gh: Gatehouse, environment: str, retention: timedelta = DEFAULT_RETENTION
        ) -> list[PurgeCandidate]:
    """Customers terminated more than `retention` ago whose rows still exist, with row counts."""
    cutoff = gh.now() - retention
    engine = gh.data.engine(environment)
    with engine.connect() as conn:
        ended = conn.execute(select(Customer.customer_id, Customer.terminated_at)
                             .where(Customer.terminated_at.is_not(None),
                                    Customer.terminated_at <= cutoff)
                             .order_by(Customer.customer_id)).all()
        return [PurgeCandidate(environment, cid, terminated, _counts(gh, conn, cid))
                for cid, terminated in ended if terminated is not None]


def _counts(gh: Gatehouse, conn: Connection, customer_id: str) -> dict[str, int]:
    counts = {}
    for table in gh.data.catalog.tables.values():
        sql = CustomerBase.metadata.tables[table.name]
        counts[table.name] = conn.execute(
            select(func.count()).select_from(sql)
            .where(sql.c[table.customer_column] == customer_id)).scalar_one()
    return counts


def purge(gh: Gatehouse, environment: str, execute: bool,
          retention: timedelta = DEFAULT_RETENTION) -> list[PurgeCandidate]:
    """Purge every due customer of `environment` (or only list them when not `execute`)."""
    candidates = due(gh, environment, retention)
    if execute:
        for candidate in candidates:
            _tombstone(gh, candidate)
            _shred(gh, candidate)
    return candidates


def _tombstone(gh: Gatehouse, candidate: PurgeCandidate) -> None:
    with gh.write() as db:
        key = (candidate.environment, candidate.customer_id)
        if db.get(PurgedCustomer, key) is not None:
            return  # an earlier run recorded it and died before shredding: finish only
        db.add(PurgedCustomer(environment=candidate.environment,
                              customer_id=candidate.customer_id,
                              terminated_at=candidate.terminated_at, purged_at=gh.now(),
                              rows_deleted=sum(candidate.rows.values())))
        gh.audit(db, system_event(
            "customer.purged", target_type="customer", target_id=candidate.customer_id,
            customer_id=candidate.customer_id,
            reason=f"subscription ended {candidate.terminated_at:%Y-%m-%d}; retention period "
                   "passed",
            details={"rows_deleted": sum(candidate.rows.values()),
                     "tables": sorted(t for t, n in candidate.rows.items() if n),
                     "key_destroyed": True,
                     "terminated_at": candidate.terminated_at.isoformat()}))


def _shred(gh: Gatehouse, candidate: PurgeCandidate) -> None:
    engine = write_engine(gh.data.engine(candidate.environment))
    with engine.begin() as conn:
        destroy_data_key(conn, candidate.customer_id, gh.now())
        for table in gh.data.catalog.tables.values():
            sql = CustomerBase.metadata.tables[table.name]
            conn.execute(delete(sql).where(sql.c[table.customer_column] ==
                                           candidate.customer_id))
        forget_customer(conn, candidate.customer_id)  # the emails' blind index goes too
    if is_sqlite(engine):
        _checkpoint_wal(engine)


def _checkpoint_wal(engine: Engine) -> None:
    """Old pages holding the wrapped key may linger in SQLite's write-ahead log until a
    checkpoint folds it into the (secure_delete) database file and truncates it. Best effort:
    a reader elsewhere may keep the log; the next checkpoint then does it."""
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # outside any transaction
    finally:
        raw.close()
