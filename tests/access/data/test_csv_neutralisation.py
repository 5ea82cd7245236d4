"""One formula-neutralisation rule for both CSV exports (ASVS 1.2.10, plus OWASP's CR): the
customer-data export of the broker and the auditors' export of the log. A cell that starts with
NUL, =, +, -, @, tab or CR gets a leading apostrophe in both."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from access.data import broker
from access.principal import Principal, Role
from audit import export_stream
from audit.export_stream import ExportFormat, encode, neutralize
from audit.query import STREAM_COLUMNS

TRIGGERS = ["\x00", "=", "+", "-", "@", "\t", "\r"]
SAM = Principal(user_id=1, iss="https://idp", sub="sam", name="Sam",
                roles=frozenset({Role.REQUESTER}), session_id="s",
                session_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
                mfa_verified_at=None, step_up_at=None)


def test_the_broker_uses_the_one_rule() -> None:
    assert vars(broker)["neutralize"] is export_stream.neutralize
    assert set(export_stream.FORMULA_START) == set(TRIGGERS)


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
def test_the_customer_data_csv_neutralises_a_leading(trigger: str) -> None:
    cell = trigger + "1+1"
    frame = pd.DataFrame({"job_title": [cell, "plain"], "id": [-5, 7]})
    view = broker.DataView(grant_id=1, customer_id="cust-0001", environment="production",
                           scope="contacts", tables={"contacts": frame}, masked=(),
                           revealed=())
    rows = list(csv.reader(io.StringIO(broker._csv(view, SAM).decode("utf-8"))))
    assert rows[2:] == [["'" + cell, "-5"], ["plain", "7"]]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_the_audit_csv_neutralises_a_leading(trigger: str, position: int) -> None:
    cell = trigger + "1+1"
    texts = len(STREAM_COLUMNS) - 2
    column = ["", None, "plain"]  # an empty cell and a None around it: no false alarm, no miss
    column[position] = cell
    rows = [(i + 1, 1_700_000_000_000_000, *[column[i]] * texts) for i in range(3)]
    parsed = list(csv.reader(io.StringIO(encode(ExportFormat.CSV, rows).decode("utf-8"),
                                         newline="")))
    assert parsed[position][3:] == ["'" + cell] * texts
    assert neutralize(cell) == "'" + cell
