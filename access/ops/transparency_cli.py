"""`python -m access transparency-report`: a customer's access-transparency report from a
terminal, as a signed-in auditor or privacy officer (`access.ops.as_person`: their live
console session and a fresh authenticator code), generated and recorded exactly as on the
console's Transparency report page, and written into a private folder: the report (JSON, for
the customer, verifiable with `python -m audit verify-report`), the same as HTML, and the
opening (names staff: for the customer's auditor or a regulator only)."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, date, datetime, time
from pathlib import Path

from access import transparency_report
from access.context import Gatehouse
from access.errors import InvalidInput
from access.ops.as_person import person, write_private

__all__ = ["add_parser", "run"]

AGENT = "python -m access transparency-report"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("transparency-report",
                            help="a customer's access-transparency report, as a signed-in "
                                 "auditor or privacy officer")
    parser.add_argument("--as", dest="who", required=True, help="your subject at the IdP")
    parser.add_argument("--code", help="your authenticator code (asked for when absent)")
    parser.add_argument("--customer", required=True, help="the customer id, e.g. cust-0042")
    parser.add_argument("--since", required=True,
                        help="start of the period: a UTC day (2026-09-01) or ISO 8601 time "
                             "with zone")
    parser.add_argument("--until", required=True,
                        help="end of the period, not included: a UTC day or ISO 8601 time "
                             "with zone")
    parser.add_argument("--out", required=True, type=Path,
                        help="a private folder for the three files (made if absent)")


def run(gh: Gatehouse, args: argparse.Namespace) -> str:
    """Generate the report as `--as` and write its files; what to print."""
    since, until = _moment("since", args.since), _moment("until", args.until)
    who = person(gh, args.who, args.code or getpass.getpass("authenticator code: "), AGENT)
    report = transparency_report.generate(gh, who, args.customer, since, until)
    written = write_private(args.out, {f"{report.stem}.json": report.document,
                                       f"{report.stem}.html": report.html,
                                       f"{report.stem}-opening.json": report.opening})
    unsealed = (f"; {report.unsealed} more too recent for the signed checkpoint, not listed"
                if report.unsealed else "")
    return (f"{report.rows} consultation(s) of {report.customer_id}, checkpoint of tree size "
            f"{report.tree_size}{unsealed}\n{written}")


def _moment(name: str, text: str) -> datetime:
    """A day alone is that day's start in UTC; a time keeps its zone (one without a zone is
    refused by the report, which names the field)."""
    try:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(name, "must be a UTC day (2026-09-01) or an ISO 8601 time with "
                                 "zone") from None
