"""The keyed blind index of contact emails (issue 16): the generator writes it, a lookup finds a
subject with one indexed query and no key but the index key, and the index says nothing about
an email to someone without that key."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from access.data.customer_db.schema import Contact, ContactEmailIndex
from access.data.envelope import LocalMasterKey, data_key, open_value
from access.data.subject_index import (
    BLIND_INDEX_KEY,
    BlindIndex,
    SubjectRow,
    blind_index_from_env,
    create_blind_index_key_file,
    display_hint,
    find,
    normalised_email,
    reindex,
)
from access.errors import InvalidInput
from access.ops.generate_customers import generate
from audit.engine import make_engine

INDEX = BlindIndex(os.urandom(32))
MASTER = LocalMasterKey(os.urandom(32))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('index') / 'customers.db'}")
    generate(engine, MASTER, customers=12, today=datetime(2026, 5, 1, tzinfo=UTC), index=INDEX)
    yield engine
    engine.dispose()


def contacts(engine: Engine) -> list[tuple[str, int, str]]:
    """(customer, contact id, email in clear) of every contact, opened with the master key."""
    with engine.connect() as conn:
        rows = conn.execute(select(Contact.customer_id, Contact.id, Contact.email)).all()
        return [(c, i, open_value(data_key(conn, MASTER, c), c, "contacts", "email", i, e))
                for c, i, e in rows]


def test_normalisation_is_nfkc_trimmed_and_lower_cased() -> None:
    assert normalised_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalised_email("ｊａｎｅ@example.com") == "jane@example.com"  # fullwidth → NFKC
    assert INDEX.of_email("JANE@example.com") == INDEX.of_email(" jane@EXAMPLE.com")
    for bad in ("", "jane", "@example.com", "jane@", "a@b@c", "x" * 250 + "@e.com", "j\x00@e.c"):
        with pytest.raises(InvalidInput) as caught:
            normalised_email(bad)
        assert caught.value.field == "email"


def test_the_index_is_keyed_and_carries_no_part_of_the_email() -> None:
    other = BlindIndex(os.urandom(32))
    email = "jane.doe@example.com"
    assert INDEX.of_email(email) != other.of_email(email)
    assert len(INDEX.of_email(email)) == 64 and "jane" not in INDEX.of_email(email)
    assert display_hint(email) == "j•••@example.com"
    assert "os.urandom" not in repr(INDEX) and not hasattr(INDEX, "__dict__")
    with pytest.raises(InvalidInput):
        BlindIndex(b"short")


def test_the_generator_indexes_every_contact(engine: Engine) -> None:
    every = contacts(engine)
    with engine.connect() as conn:
        indexed = dict(conn.execute(select(ContactEmailIndex.contact_id,
                                           ContactEmailIndex.email_index)).all())
    assert len(indexed) == len(every) > 12
    assert all(indexed[i] == INDEX.of_email(email) for _, i, email in every)


def test_a_lookup_finds_the_subject_with_the_index_alone(engine: Engine) -> None:
    """`find` needs no data key: the lookup decrypts nothing, whatever the customer count."""
    customer, contact, email = contacts(engine)[5]
    with engine.connect() as conn:
        found = find(conn, INDEX.of_email(email.upper()))
        assert SubjectRow(customer, contact) in found
        assert find(conn, INDEX.of_email("nobody@nowhere.example")) == []
        assert find(conn, BlindIndex(os.urandom(32)).of_email(email)) == []


def test_reindex_moves_the_subject_to_its_new_email(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    generate(engine, MASTER, customers=2, today=datetime(2026, 5, 1, tzinfo=UTC), index=INDEX)
    customer, contact, email = contacts(engine)[0]
    with engine.begin() as conn:
        reindex(conn, INDEX, SubjectRow(customer, contact), "new.name@example.com")
    with engine.connect() as conn:
        assert find(conn, INDEX.of_email(email)) == []
        assert find(conn, INDEX.of_email("New.Name@example.com")) == [
            SubjectRow(customer, contact)]
        assert conn.execute(select(func.count()).select_from(ContactEmailIndex)).scalar_one() \
            == len(contacts(engine))
    engine.dispose()


def test_the_key_comes_from_a_key_file_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEHOUSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv(BLIND_INDEX_KEY.env, raising=False)
    monkeypatch.delenv(BLIND_INDEX_KEY.file_env, raising=False)
    with pytest.raises(InvalidInput) as missing:
        blind_index_from_env()
    assert missing.value.field == BLIND_INDEX_KEY.env
    path = create_blind_index_key_file()
    assert path == tmp_path / "keys" / "blind-index.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert create_blind_index_key_file() is None  # never replaced
    first = blind_index_from_env().of_email("a@b.example")
    assert blind_index_from_env().of_email("a@b.example") == first
