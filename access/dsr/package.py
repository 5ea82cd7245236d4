"""The access package (GDPR Art. 15, CCPA right to know): the subject's personal data, the
purposes, categories, recipients and retention rule, and every staff consultation of that data
(date, action, scope, ticket, justification; staff as role plus a pseudonym, as the EU Court of
Justice allowed in C-579/21 Pankki S).

Contracts:
- Preparing the package reads the subject's rows under the broker's rules and logs one
  `dsr.subject_read` event per customer, for the request (its purpose).
- Before release the privacy officer may withhold items (`redact`), each with a recorded
  reason; release needs a fresh code and a verified identity, gives the same content as JSON
  and as a readable HTML document, and closes the request with the JSON's SHA-256 as evidence.
- Staff pseudonyms ("Staff A", ...) are stable within one customer's section of one package
  (`access.transparency.consultations`), and link nothing across packages.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from access import transparency
from access.authz import Action
from access.context import Gatehouse
from access.data.retention import retention_from_env
from access.dsr import subject
from access.dsr.requests import (
    Kind,
    StepRefuse,
    close,
    dsr_event,
    require_kind,
    require_verified,
    step,
)
from access.errors import GatehouseError, InvalidInput
from access.principal import Principal
from access.schema import DataSubjectRequest, DsrRedaction
from access.text import checked_reason
from audit.vocabulary import CUSTOMER_ID

__all__ = ["PURPOSES", "RECIPIENTS", "Released", "prepare", "redact", "release", "render_html"]

# From the privacy policy Gatehouse makes true (../shared/seeds/003): why account data is used,
# and who else may process it.
PURPOSES = (
    "Service delivery: operating, maintaining and securing the platform, authenticating users "
    "and managing billing",
    "Communications: important updates about the account, security alerts and service "
    "announcements",
)
RECIPIENTS = ("Cloud infrastructure (AWS)", "Analytics (Datadog)", "Security (Cloudflare)",
              "Payments (Stripe)")
_SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # before any log: every consultation there is
_ITEM = re.compile(r"record:(?P<customer>[^:]+):(?P<contact>\d{1,12}):(?P<field>[a-z_]+)"
                   r"|consultation:(?P<event>\d{1,18})")


@dataclass(frozen=True)
class Released:
    json: bytes
    html: bytes
    sha256: str

    def files(self, dsr_id: int) -> dict[str, bytes]:
        """The package as the files handed to the requester, by name."""
        return {f"dsr-{dsr_id}.json": self.json, f"dsr-{dsr_id}.html": self.html}


def prepare(gh: Gatehouse, officer: Principal, dsr_id: int) -> dict[str, Any]:
    """The package as it stands, with the redactions so far applied and listed; for review."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.ACCESS, refuse)
        return _content(gh, db, officer, dsr, refuse)


def _content(gh: Gatehouse, db: Session, officer: Principal, dsr: DataSubjectRequest,
             refuse: StepRefuse) -> dict[str, Any]:
    try:
        records = subject.read(gh, dsr.environment, subject.locate(
            gh, dsr.environment, dsr.subject_index))
        consulted = _consultations(gh, records)
    except GatehouseError as error:
        refuse(error)
    for customer_id in sorted({r.customer_id for r in records}):
        gh.audit(db, dsr_event(officer, "dsr.subject_read", dsr, customer_id=customer_id,
                               details={"rows": sum(r.customer_id == customer_id
                                                    for r in records),
                                        "consultations": len(consulted[customer_id])}))
    withheld = {r.item: r.reason for r in db.scalars(
        select(DsrRedaction).where(DsrRedaction.dsr_id == dsr.id).order_by(DsrRedaction.id))}
    return _document(gh, dsr, records, consulted, withheld)


def _consultations(gh: Gatehouse, records: list[subject.SubjectRecord]
                   ) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        listed = transparency.consultations(gh, record.customer_id, _SINCE, gh.now(),
                                            subject=str(record.contact_id))
        found[record.customer_id] = [{
            "item": f"consultation:{c.event_id}", "customer_id": c.customer_id,
            "date": c.ts.isoformat(), "action": c.action, "scope": c.scope,
            "ticket": c.ticket, "justification": c.justification, "staff": c.staff,
            "role": c.roles} for c in listed.rows]
    return found


def _document(gh: Gatehouse, dsr: DataSubjectRequest, records: list[subject.SubjectRecord],
              consulted: dict[str, list[dict[str, Any]]], withheld: dict[str, str]
              ) -> dict[str, Any]:
    fields = subject.fields(gh)
    personal = [{"customer_id": r.customer_id, "fields": {
        name: "[withheld]" if f"record:{r.customer_id}:{r.contact_id}:{name}" in withheld
        else value for name, value in r.values.items()},
        "items": [f"record:{r.customer_id}:{r.contact_id}:{name}" for name in r.values]}
        for r in records]
    consultations = [c for rows in consulted.values() for c in rows
                     if c["item"] not in withheld]
    return {
        "request": {"id": dsr.id, "kind": dsr.kind, "jurisdiction": dsr.jurisdiction,
                    "received_at": dsr.received_at.isoformat(),
                    "due_at": dsr.due_at.isoformat(), "subject": dsr.subject_hint},
        "generated_at": gh.now().isoformat(),
        "personal_data": personal,
        "categories": [{"field": name, "classification": str(c)}
                       for name, c in fields.items()],
        "purposes": list(PURPOSES),
        "recipients": list(RECIPIENTS),
        "retention": f"Kept while the customer's subscription runs; deleted, and its "
                     f"encryption key destroyed, {retention_from_env().days} days after it "
                     "ends.",
        "consultations": consultations,
        "withheld": [{"item": item, "reason": reason} for item, reason in withheld.items()],
    }


def redact(gh: Gatehouse, officer: Principal, dsr_id: int, item: str, reason: str) -> None:
    """Withhold one item ("record:<customer>:<contact>:<field>" or "consultation:<event>")
    from the package, with the reason recorded (and logged; the value never is)."""
    gh.authorize(officer, Action.DSR_PROGRESS)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.ACCESS, refuse)
        try:
            reason = checked_reason(reason)
            _checked_item(gh, item)
        except InvalidInput as error:
            refuse(error)
        if db.scalar(select(DsrRedaction.id).where(DsrRedaction.dsr_id == dsr.id,
                                                   DsrRedaction.item == item)) is not None:
            refuse(InvalidInput("item", f"{item} is already withheld"))
        db.add(DsrRedaction(dsr_id=dsr.id, item=item, reason=reason,
                            redacted_by=officer.user_id, redacted_at=gh.now()))
        gh.audit(db, dsr_event(officer, "dsr.redacted", dsr, reason=reason,
                               details={"item": item}))


def _checked_item(gh: Gatehouse, item: object) -> None:
    match = _ITEM.fullmatch(item) if isinstance(item, str) else None
    if match is None or (match["customer"] is not None and (
            not CUSTOMER_ID.fullmatch(match["customer"])
            or match["field"] not in subject.fields(gh))):
        raise InvalidInput("item", "must be record:<customer>:<contact>:<field> or "
                                   "consultation:<event id>, as the package lists them")


def release(gh: Gatehouse, officer: Principal, dsr_id: int) -> Released:
    """The reviewed package for the subject (fresh code, verified identity): JSON and HTML
    of the same content. Closes the request."""
    gh.authorize(officer, Action.DSR_RELEASE)
    with step(gh, officer, dsr_id) as (db, dsr, refuse):
        require_kind(dsr, Kind.ACCESS, refuse)
        require_verified(dsr, refuse)
        content = _content(gh, db, officer, dsr, refuse)
        document = json.dumps(content, indent=2, sort_keys=True).encode("utf-8")
        digest = hashlib.sha256(document).hexdigest()
        close(gh, db, officer, dsr, "dsr.released", "released", format="json html",
              sha256=digest, redactions=len(content["withheld"]))
        return Released(document, render_html(content).encode("utf-8"), digest)


def render_html(content: dict[str, Any]) -> str:
    """The package as a self-contained HTML document; every value escaped."""
    e = html.escape
    request = content["request"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Your personal data "
             f"(request {e(str(request['id']))})</title></head><body>",
             f"<h1>Your personal data</h1><p>Request {e(str(request['id']))} "
             f"({e(request['kind'])}, {e(request['jurisdiction'].upper())}), received "
             f"{e(request['received_at'])}; prepared {e(content['generated_at'])}.</p>",
             "<h2>The data we hold</h2>"]
    for record in content["personal_data"]:
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>"
                       for k, v in record["fields"].items())
        parts.append(f"<h3>At customer {e(record['customer_id'])}</h3><table>{rows}</table>")
    parts.append(_list("Categories", [f"{c['field']}: {c['classification']}"
                                      for c in content["categories"]]))
    parts.append(_list("Purposes", content["purposes"]))
    parts.append(_list("Recipients", content["recipients"]))
    parts.append(f"<h2>Retention</h2><p>{e(content['retention'])}</p>")
    parts.append(_list("Who consulted it", [
        f"{c['date']}: {c['action']} of {c['scope']} by {c['staff']} ({c['role']}), ticket "
        f"{c['ticket']}: {c['justification']}" for c in content["consultations"]]))
    parts.append(_list("Withheld", [f"{w['item']}: {w['reason']}"
                                    for w in content["withheld"]]))
    return "".join(parts) + "</body></html>"


def _list(title: str, items: list[str]) -> str:
    body = "".join(f"<li>{html.escape(str(i))}</li>" for i in items) or "<li>none</li>"
    return f"<h2>{html.escape(title)}</h2><ul>{body}</ul>"
