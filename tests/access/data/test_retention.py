"""The 60-day purge: dry run lists, execute deletes and shreds, again is harmless."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access.context import Gatehouse
from access.data import retention
from access.data.customer_db.schema import Contact, Customer, CustomerKey
from access.data.envelope import KeyDestroyed, LocalMasterKey, data_key, open_value, rewrap_all
from access.data.sources import CustomerData
from access.errors import Denied, InvalidInput
from access.workflow import create_request, decide_request
from audit.engine import make_engine
from tests.support.data_helpers import attach_customer_data
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import draft, events, team


@pytest.fixture
def gh(gh: Gatehouse, tmp_path: Path, clock: FakeClock) -> Gatehouse:
    return attach_customer_data(gh, tmp_path, clock)


@pytest.fixture
def data(gh: Gatehouse) -> CustomerData:
    return gh.data


def test_dry_run_lists_only_customers_past_retention_and_changes_nothing(
        gh: Gatehouse, data: CustomerData, clock: FakeClock) -> None:
    due = retention.purge(gh, "production", execute=False)
    assert len(due) >= 2
    with data.engine("production").connect() as conn:
        for candidate in due:
            ended = conn.execute(select(Customer.terminated_at).where(
                Customer.customer_id == candidate.customer_id)).scalar_one()
            assert ended is not None and clock.now - ended > timedelta(days=60)
        recent = conn.execute(select(func.count()).select_from(Customer).where(
            Customer.terminated_at > clock.now - timedelta(days=60))).scalar_one()
    assert recent >= 2  # terminated recently: still retained, not listed
    assert all(c.rows["contacts"] >= 1 for c in due)
    assert events(gh, "customer.") == []
    assert retention.purge(gh, "production", execute=False) == due


def test_execute_deletes_rows_destroys_the_key_and_logs_once_per_customer(
        gh: Gatehouse, data: CustomerData, tmp_path: Path) -> None:
    due = retention.purge(gh, "production", execute=False)
    victim = due[0].customer_id
    engine = data.engine("production")
    with engine.connect() as conn:  # a copy of ciphertext taken before the purge
        copied = conn.execute(select(Contact.id, Contact.email)
                              .where(Contact.customer_id == victim).limit(1)).one()
        dek_before = data_key(conn, data.master, victim)
    assert open_value(dek_before, victim, "contacts", "email", copied.id, copied.email)
    retention.purge(gh, "production", execute=True)
    with engine.connect() as conn:
        for candidate in due:
            left = conn.execute(select(func.count()).select_from(Contact).where(
                Contact.customer_id == candidate.customer_id)).scalar_one()
            assert left == 0
            with pytest.raises(KeyDestroyed):
                data_key(conn, data.master, candidate.customer_id)
        key_row = conn.execute(select(CustomerKey.wrapped_key)
                               .where(CustomerKey.customer_id == victim)).scalar_one()
    assert key_row is None  # nothing left to unwrap the copied ciphertext with
    purged = events(gh, "customer.purged")
    assert sorted(e["customer_id"] for e in purged) == sorted(c.customer_id for c in due)
    assert purged[0]["details"]["key_destroyed"] is True
    assert "@" not in repr(purged)  # counts and ids, never PII
    assert retention.purge(gh, "production", execute=True) == []
    assert len(events(gh, "customer.purged")) == len(due)


def test_old_backups_become_unreadable_once_the_master_key_is_rotated(
        gh: Gatehouse, data: CustomerData, tmp_path: Path) -> None:
    """A full backup still holds the wrapped key; rotating the master after a purge (and
    destroying the old master) is what makes such a backup unreadable."""
    victim = retention.purge(gh, "production", execute=False)[0].customer_id
    source = Path(str(data.urls["production"]).removeprefix("sqlite:///"))
    backup = tmp_path / "backup.db"
    shutil.copy(source, backup)
    retention.purge(gh, "production", execute=True)
    new_master = LocalMasterKey(b"n" * 32)
    with data.engine("production").begin() as conn:
        assert rewrap_all(conn, data.master, new_master) >= 1
    old_backup = make_engine(f"sqlite:///{backup}")
    with old_backup.connect() as conn, pytest.raises(Denied):
        data_key(conn, new_master, victim)  # the old master is gone with the rotation
    old_backup.dispose()


def test_a_purged_customer_cannot_be_requested_granted_or_read(
        gh: Gatehouse, data: CustomerData, idp: LocalIdP) -> None:
    people = team(gh, idp)
    victim = retention.purge(gh, "production", execute=False)[0].customer_id
    request_id = create_request.create(gh, people.sam, draft(customer_id=victim))
    retention.purge(gh, "production", execute=True)
    with pytest.raises(Denied, match="purged"):
        create_request.create(gh, people.sam, draft(customer_id=victim))
    with pytest.raises(Denied, match="purged"):
        decide_request.decide(gh, people.ada, request_id, approve=True)


def test_a_purge_that_died_half_way_is_finished_by_the_next_run(
        gh: Gatehouse, data: CustomerData) -> None:
    due = retention.purge(gh, "production", execute=False)
    retention._tombstone(gh, due[0])  # the run died right after recording the decision
    finished = retention.purge(gh, "production", execute=True)
    assert due[0].customer_id in [c.customer_id for c in finished]
    assert len(events(gh, "customer.purged")) == len(due)  # not twice for the first one
    with data.engine("production").connect() as conn:
        assert conn.execute(select(func.count()).select_from(Contact).where(
            Contact.customer_id == due[0].customer_id)).scalar_one() == 0


def test_requests_name_only_existing_customers(gh: Gatehouse, data: CustomerData,
                                               idp: LocalIdP) -> None:
    people = team(gh, idp)
    with pytest.raises(InvalidInput, match="no customer cust-9999"):
        create_request.create(gh, people.sam, draft(customer_id="cust-9999"))
