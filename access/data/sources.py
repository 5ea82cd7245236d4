"""Where each environment's customer data lives, its catalog, and the master key.

Engines are made on first use and the catalog is checked against each database then: the
broker refuses to serve from a database whose tables or columns the catalog does not describe.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, inspect, select

from access.data.catalog import Catalog, load_catalog, validate_against
from access.data.customer_db.schema import Customer
from access.data.envelope import MasterKey, master_key_from_env
from access.data.subject_index import (
    BlindIndex,
    blind_index_from_env,
    create_blind_index_key_file,
)
from access.errors import Denied
from access.keys.files import private_sqlite
from access.ops.generate_customers import generate
from audit.engine import make_engine
from audit.settings import data_dir


def customer_db_url(environment: str) -> str:
    """`GATEHOUSE_CUSTOMER_DB_<ENVIRONMENT>`, else a SQLite file in the data folder."""
    configured = os.environ.get(f"GATEHOUSE_CUSTOMER_DB_{environment.upper()}")
    return configured or f"sqlite:///{data_dir() / f'customers-{environment}.db'}"


@dataclass
class CustomerData:
    """The customer databases of each environment, their catalog and the master key.
    `CustomerData.none()` is the deployment without any: every use is refused."""

    catalog: Catalog
    master: MasterKey
    urls: dict[str, str]
    # the key of the email blind index; None: loaded from the environment on first use
    index: BlindIndex | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def none(cls) -> CustomerData:
        return cls(Catalog({}, "none"), _NoMasterKey(), {})

    def serves(self, environment: str) -> bool:
        return environment in self.urls

    def blind_index(self) -> BlindIndex:
        """The blind-index key (`access.data.subject_index`); `Denied` without customer
        data, InvalidInput naming the variable when it is configured nowhere."""
        if not self.urls:
            raise Denied("no customer database is configured")
        with self._lock:
            if self.index is None:
                self.index = blind_index_from_env()
            return self.index

    def engine(self, environment: str) -> Engine:
        """The environment's customer database (checked against the catalog on first use);
        `Denied` where none is configured."""
        if not self.serves(environment):
            raise Denied(f"no customer database is configured for {environment}")
        with self._lock:
            if environment not in self._engines:
                private_sqlite(self.urls[environment], check_existing=False)
                engine = make_engine(self.urls[environment])
                validate_against(self.catalog, engine)
                self._engines[environment] = engine
            return self._engines[environment]


class _NoMasterKey:
    """The master key of `CustomerData.none()`: there is nothing to wrap or unwrap."""

    key_id = "none"

    def wrap(self, dek: bytes, customer_id: str) -> bytes:
        raise Denied("no customer database is configured")

    def unwrap(self, wrapped: bytes, customer_id: str) -> bytes:
        raise Denied("no customer database is configured")


def customer_data_from_env(environments: list[str]) -> CustomerData:
    return CustomerData(load_catalog(), master_key_from_env(),
                        {env: customer_db_url(env) for env in environments})


DEMO_SIZES = {"production": 60, "staging": 20}


def generate_demo_databases(data: CustomerData, now: datetime) -> list[str]:
    """Fill every environment's customer database that has no customers yet; return what was
    generated. Deterministic: the same sizes and seed give the same customers. Creates the
    blind-index key file first when no key is configured (the demo's own key)."""
    if data.index is None:
        create_blind_index_key_file()
    done = []
    for environment, url in data.urls.items():
        private_sqlite(url, check_existing=False)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                empty = not inspect(conn).has_table("customers") or not conn.execute(
                    select(Customer.customer_id).limit(1)).first()
            if empty:
                report = generate(engine, data.master, DEMO_SIZES.get(environment, 20),
                                  today=now, index=data.blind_index())
                done.append(f"{environment}: {report.customers} customers, "
                            f"{sum(report.rows.values())} rows")
        finally:
            engine.dispose()
    return done
