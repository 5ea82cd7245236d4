"""A customer's access-transparency report: every staff consultation of the customer's data in
a period (`access.transparency`), staff pseudonymised, as a proved report (`audit.proved`) the
customer verifies offline against the log's public key, with a readable HTML rendering of the
same document and the opening (full records, naming staff) for a trusted third party.

Auditors and the privacy officer generate it (the console page, or `python -m access
transparency-report`); generating is one `transparency.reported` audit event naming the
customer and the period, written after the report is built and before it is handed back (no
event, no report). A refusal (bad input, no checkpoint yet) is an event too.

On the page, generating shows the report; each file downloaded from it is handed out by
`handed_out`, one `audit.exported` event per download (the part, the customer, the rows, the
tree size, and the generation's event id), written before the bytes leave (no event, no
file): the opening names staff, so who took which file is on the record. The command line
writes the three files as it generates them, under the generation's one event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from access.authz import Action
from access.context import Gatehouse, event_for
from access.errors import InvalidInput
from access.oversight import _trust  # the one reader of the pinned public key
from access.principal import Principal
from access.text import as_logged
from access.transparency import Consultations, body_rows, check_query, consultations
from access.transparency_html import render_html
from audit.checkpoint import Checkpoint, fingerprint
from audit.events import to_micros
from audit.proof import NotSealed
from audit.proved import ProofFailed, Proved, build, dumps, iso_time, newest_checkpoint
from audit.vocabulary import Outcome

__all__ = ["KIND", "PARTS", "TransparencyReport", "generate", "handed_out"]

KIND = "access-transparency"
PARTS = ("json", "html", "opening")  # the report, the same readable, the full records
EVENT = "transparency.reported"
COUNTING_RULE = (
    "A consultation is a served read of this customer's data: a read, a reveal (columns shown "
    "in clear, with the reason given) or an export, recorded in Gatehouse's audit log. Refused "
    "attempts served nothing and are not listed. Consultations too recent to be covered by the "
    "signed checkpoint are counted, not listed: generate the report again later to see them.")
STAFF_RULE = (
    "Staff are shown by the role they held and a pseudonym (Staff A, Staff B, ...) given in "
    "order of first appearance in this report only: the same person has the same pseudonym "
    "throughout this report, and pseudonyms in different reports are unrelated.")
HOW_TO_VERIFY = (
    "Save this JSON file and the log's public key (published by the operator, obtained "
    "separately from this report), and, with Gatehouse installed, run "
    "'python -m audit verify-report REPORT.json --public-key gatehouse-audit.pub'. "
    "It checks the checkpoint's signature and that every listed event is in the signed log. "
    "An auditor given the opening file adds --opening OPENING.json to check every displayed "
    "field against the logged event. No proof can show that no consultation was left out.")


@dataclass(frozen=True)
class TransparencyReport:
    customer_id: str
    since: datetime
    until: datetime
    document: bytes  # the proved report (JSON): what the customer receives
    opening: bytes   # full records of the cited events (JSON): names staff
    html: bytes      # the same document, readable
    rows: int
    unsealed: int
    tree_size: int
    event_id: int    # the `transparency.reported` event of its generation

    @property
    def last_day(self) -> datetime:
        """The period's last day, inclusive (`until` is the exclusive end: the next midnight)."""
        return self.until - timedelta(microseconds=1)

    @property
    def stem(self) -> str:
        """A file name stem: customer and period, both days inclusive (the customer id is
        [A-Za-z0-9_-])."""
        return f"transparency-{self.customer_id}-{self.since:%Y%m%d}-{self.last_day:%Y%m%d}"


def generate(gh: Gatehouse, principal: Principal, customer_id: str, since: datetime,
             until: datetime) -> TransparencyReport:
    """The report of `customer_id`'s consultations in `[since, until)`, cut against the newest
    signed checkpoint. `InvalidInput` naming the field for a bad customer or period, or
    naming the checkpoint when nothing is sealed yet (each recorded as a refusal)."""
    gh.authorize(principal, Action.TRANSPARENCY_REPORT)
    try:
        check_query(customer_id, since, until)
    except InvalidInput as bad:
        gh.refuse(bad, _event(principal, str(customer_id), Outcome.DENIED, reason=str(bad)))
    _, public = _trust()
    try:
        found, proved, checkpoint = _cut(gh, public, customer_id, since, until)
    except (NotSealed, ProofFailed) as exc:
        gh.refuse(InvalidInput("checkpoint", str(exc)),
                  _event(principal, customer_id, Outcome.ERROR, reason=str(exc)))
    with gh.write() as db:
        event_id = gh.audit(db, _event(principal, customer_id, details={
            "period": f"{iso_time(to_micros(since))}/{iso_time(to_micros(until))}",
            "row_count": len(found.rows), "tree_size": checkpoint.size,
            "unsealed": found.unsealed}))
    return TransparencyReport(customer_id, since, until, dumps(proved.document),
                              dumps(proved.opening), render_html(proved.document).encode(),
                              len(found.rows), found.unsealed, checkpoint.size, event_id)


def handed_out(gh: Gatehouse, principal: Principal, report: TransparencyReport,
               part: str) -> bytes:
    """The bytes of `part` of `report` (one of `PARTS`), once its download by `principal` is
    recorded: one `audit.exported` event (format `transparency-<part>`) naming the customer,
    the rows, the tree size and the generation's event. No event, no file."""
    gh.authorize(principal, Action.TRANSPARENCY_REPORT)
    if part not in PARTS:
        raise InvalidInput("part", f"must be one of {', '.join(PARTS)}")
    customer = as_logged(report.customer_id, 64)
    with gh.write() as db:
        gh.audit(db, event_for(principal, "audit.exported", target_type="customer",
                               target_id=customer, customer_id=customer, details={
                                   "format": f"transparency-{part}", "row_count": report.rows,
                                   "tree_size": report.tree_size,
                                   "event_id": report.event_id}))
    return {"json": report.document, "html": report.html, "opening": report.opening}[part]


def _cut(gh: Gatehouse, public: Any, customer_id: str, since: datetime, until: datetime
         ) -> tuple[Consultations, Proved, Checkpoint]:
    """Consultations and proofs read over one connection, against one checkpoint."""
    with gh.engine.connect() as conn:
        checkpoint = newest_checkpoint(conn, public)
        found = consultations(gh, customer_id, since, until, conn=conn,
                              sealed_below=checkpoint.size)
        body = _body(gh, found, checkpoint, fingerprint(public))
        return found, build(conn, checkpoint, KIND, body), checkpoint


def _body(gh: Gatehouse, found: Consultations, checkpoint: Checkpoint,
          key_fingerprint: str) -> dict[str, Any]:
    return {
        "title": "Access-transparency report",
        "customer_id": found.customer_id,
        "period": {"since": iso_time(to_micros(found.since)),
                   "until": iso_time(to_micros(found.until))},
        "generated_at": iso_time(to_micros(gh.now())),
        "checkpoint_time": iso_time(checkpoint.ts_us),
        "public_key_fingerprint": key_fingerprint,
        "counting_rule": COUNTING_RULE,
        "staff_rule": STAFF_RULE,
        "how_to_verify": HOW_TO_VERIFY,
        "unsealed_in_period": found.unsealed,
        "rows": body_rows(found),
    }


def _event(principal: Principal, customer_id: str, outcome: Outcome = Outcome.SUCCESS,
           reason: str | None = None, details: dict[str, Any] | None = None) -> Any:
    customer = as_logged(customer_id, 64)
    return event_for(principal, EVENT, outcome, target_type="customer", target_id=customer,
                     customer_id=customer, reason=reason, details=details or {})
