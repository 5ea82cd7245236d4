"""`python -m access dsr ...`: data-subject requests from a terminal, as a signed-in person.

The command acts as the person named by `--as` (their subject) the way `access.ops.as_person`
says: through their newest live console session and a fresh authenticator code (`--code`,
else asked for without echo), which is also the step-up for release, export and approval.
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from access.context import Gatehouse
from access.dsr import assignment, package, rights
from access.dsr import requests as dsr
from access.errors import InvalidInput
from access.ops.as_person import person, write_private
from access.principal import Principal
from access.schema import User

__all__ = ["add_parser", "run"]

AGENT = "python -m access dsr"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("dsr", help="data-subject requests, as a signed-in privacy officer "
                                        "(or an admin approving)")
    parser.add_argument("--as", dest="who", required=True, help="your subject at the IdP")
    parser.add_argument("--code", help="your authenticator code (asked for when absent)")
    steps = parser.add_subparsers(dest="step", required=True)
    steps.add_parser("list", help="open requests by due date, with their clock")
    filing = steps.add_parser("file", help="record a request")
    filing.add_argument("--kind", required=True, choices=list(dsr.Kind))
    filing.add_argument("--jurisdiction", required=True, choices=["gdpr", "ccpa"])
    filing.add_argument("--email", required=True, help="the subject's email (not stored)")
    filing.add_argument("--environment", default="production")
    filing.add_argument("--received", help="when it was received (ISO 8601 with zone)")
    filing.add_argument("--grounds", help="an objection's grounds")
    for name, extra in (("verify", "--method"), ("extend", "--reason"),
                        ("restrict", "--reason"), ("lift", "--reason"),
                        ("reject", "--reason")):
        one = steps.add_parser(name)
        one.add_argument("id", type=int)
        one.add_argument(extra, required=True)
    for name in ("show", "prepare", "propose-erasure", "approve"):
        steps.add_parser(name).add_argument("id", type=int)
    redact = steps.add_parser("redact", help="withhold one item of an access package")
    redact.add_argument("id", type=int)
    redact.add_argument("item")
    redact.add_argument("--reason", required=True)
    rectify = steps.add_parser("propose-rectification")
    rectify.add_argument("id", type=int)
    rectify.add_argument("--set", action="append", required=True, metavar="FIELD=VALUE")
    assign = steps.add_parser("assign", help="hand a request to another privacy officer")
    assign.add_argument("id", type=int)
    assign.add_argument("--to", required=True, help="their subject at the IdP")
    assign.add_argument("--reason", help="why (optional)")
    objection = steps.add_parser("decide-objection")
    objection.add_argument("id", type=int)
    objection.add_argument("--decision", required=True, choices=["upheld", "overridden"])
    objection.add_argument("--reason", required=True)
    for name in ("release", "export"):
        out = steps.add_parser(name, help="write the package (release) or the portable data "
                                          "(export) into a new private folder")
        out.add_argument("id", type=int)
        out.add_argument("--out", required=True, type=Path)


def run(gh: Gatehouse, args: argparse.Namespace) -> str:
    """Carry out one step; what to print."""
    who = person(gh, args.who, args.code or getpass.getpass("authenticator code: "), AGENT)
    return _STEPS[args.step](gh, who, args)


def _list(gh: Gatehouse, who: Principal, _args: argparse.Namespace) -> str:
    return "\n".join(f"{v.id}\t{v.kind}\t{v.jurisdiction}\t{v.subject_hint}\t"
                     f"due {v.due_at:%Y-%m-%d}\t{v.clock}\t{v.status}\t{v.identity_state}\t"
                     f"{v.assignee}"
                     for v in dsr.requests(gh, who)) or "no open requests"


def _file(gh: Gatehouse, who: Principal, args: argparse.Namespace) -> str:
    received = _when(args.received) if args.received else None
    dsr_id = dsr.file(gh, who, args.kind, args.jurisdiction, args.email, args.environment,
                      received, args.grounds)
    return f"filed request {dsr_id}, due {dsr.detail(gh, who, dsr_id).due_at:%Y-%m-%d %H:%M} UTC"


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("received", "must be ISO 8601, e.g. 2026-12-01T09:00+00:00") \
            from None


def _show(gh: Gatehouse, who: Principal, args: argparse.Namespace) -> str:
    view = dsr.detail(gh, who, args.id)
    return json.dumps(view.__dict__, default=str, indent=2)


def _changes(pairs: list[str]) -> dict[str, str]:
    if not all("=" in p for p in pairs):
        raise InvalidInput("set", "must be FIELD=VALUE")
    return dict(p.split("=", 1) for p in pairs)


def _release(gh: Gatehouse, who: Principal, args: argparse.Namespace) -> str:
    return write_private(args.out, package.release(gh, who, args.id).files(args.id))


def _export(gh: Gatehouse, who: Principal, args: argparse.Namespace) -> str:
    return write_private(args.out, rights.portability(gh, who, args.id).files(args.id))


def _verify(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    dsr.verify_identity(gh, who, a.id, a.method)
    return f"identity verified for request {a.id}"


def _extend(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    return f"request {a.id} now due {dsr.extend(gh, who, a.id, a.reason):%Y-%m-%d %H:%M} UTC"


def _prepare(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    return json.dumps(package.prepare(gh, who, a.id), indent=2)


def _redact(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    package.redact(gh, who, a.id, a.item, a.reason)
    return f"withheld {a.item}"


def _rectify(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.propose_rectification(gh, who, a.id, _changes(a.set))
    return f"request {a.id} waits for a second person"


def _erase(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.propose_erasure(gh, who, a.id)
    return f"request {a.id} waits for a second person"


def _approve(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    return rights.approve(gh, who, a.id).summary()


def _reject(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.reject(gh, who, a.id, a.reason)
    return f"request {a.id} sent back to its privacy officer"


def _restrict(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.restrict(gh, who, a.id, a.reason)
    return f"the subject of request {a.id} is restricted"


def _lift(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.lift_restriction(gh, who, a.id, a.reason)
    return f"restriction of request {a.id} lifted"


def _assign(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    # whoever `--to` names, the service decides (and records a refusal): not an officer,
    # disabled, or nobody at all (None)
    with gh.read() as db:
        ids = db.scalars(select(User.id).where(User.sub == a.to).limit(2)).all()
    name = assignment.assign(gh, who, a.id, ids[0] if len(ids) == 1 else None, a.reason)
    return f"request {a.id} assigned to {name}"


def _objection(gh: Gatehouse, who: Principal, a: argparse.Namespace) -> str:
    rights.decide_objection(gh, who, a.id, a.decision == "upheld", a.reason)
    return f"objection {a.decision}"


Step = Callable[[Gatehouse, Principal, argparse.Namespace], str]
_STEPS: dict[str, Step] = {
    "list": _list, "file": _file, "show": _show, "release": _release, "export": _export,
    "verify": _verify, "extend": _extend, "prepare": _prepare, "redact": _redact,
    "propose-rectification": _rectify, "propose-erasure": _erase, "approve": _approve,
    "reject": _reject,
    "restrict": _restrict, "lift": _lift, "decide-objection": _objection, "assign": _assign,
}
