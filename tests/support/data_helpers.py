"""Customer databases for broker tests: generated, encrypted, one per environment."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from access.context import Gatehouse
from access.data.catalog import load_catalog
from access.data.envelope import LocalMasterKey
from access.data.sources import CustomerData
from access.data.subject_index import BlindIndex
from access.ops.generate_customers import generate
from audit.engine import make_engine
from tests.support.identity_helpers import FakeClock


def attach_customer_data(gh: Gatehouse, tmp_path: Path, clock: FakeClock,
                         customers: int = 30) -> Gatehouse:
    """`gh` with generated customer databases for production and staging."""
    master, index = LocalMasterKey(os.urandom(32)), BlindIndex(os.urandom(32))
    urls = {env: f"sqlite:///{tmp_path / f'customers-{env}.db'}"
            for env in ("production", "staging")}
    for url in urls.values():
        engine = make_engine(url)
        generate(engine, master, customers=customers, today=clock.now, index=index)
        engine.dispose()
    return replace(gh, data=CustomerData(load_catalog(), master, urls, index))
