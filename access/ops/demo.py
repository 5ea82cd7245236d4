"""`python -m access seed-demo`: a realistic history, driven through the real services.

Three weeks of support work under a simulated clock that ends at the real present: personas
enroll their authenticators, file requests, admins approve (two for billing), deny, let some
expire; grants are used, released, revoked or run out; one break-glass was reviewed and one
still waits; a quarterly access review ran to its due date (the next quarter's is scheduled)
and a one-off review of support access is running.
The audit log is then full of real events and the approval queue is alive.
Seeding is refused when the database already has users, so it is safe to run again.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select

from access.context import Gatehouse, event_for
from access.data import broker
from access.data.sources import generate_demo_databases
from access.identity import mfa, totp
from access.identity.sessions import login_key
from access.principal import Principal, Role
from access.reviews import campaigns, closing, decisions
from access.schema import AccessRequest, ConsoleSession, ReviewItem, User
from access.workflow import (
    break_glass,
    cancel_request,
    create_request,
    decide_request,
    grants,
    sweep,
)
from access.workflow.create_request import RequestDraft

# (subject, display name, IdP group). The demo identity provider serves the same people.
PEOPLE = [
    ("sam.support", "Sam Support", "support"),
    ("sky.support", "Sky Support", "support"),
    ("ada.admin", "Ada Admin", "admins"),
    ("alan.admin", "Alan Admin", "admins"),
    ("audrey.auditor", "Audrey Auditor", "auditors"),
    ("pia.privacy", "Pia Privacy", "privacy"),
    ("nova.nogroup", "Nova Nogroup", "marketing"),
    ("nell.newcomer", "Nell Newcomer", "support"),
]
# Never signed in before the demo starts: her first sign-in shows enrollment (QR code and key).
NEWCOMERS = frozenset({"nell.newcomer"})
PERSONAS: dict[str, dict[str, object]] = {
    sub: {"email": f"{sub}@example.test", "name": name, "groups": [group]}
    for sub, name, group in PEOPLE
}
DAYS = 21
REQUESTS = 36


@dataclass
class SimClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Persona:
    principal: Principal
    secret: str


def seed_demo(gh: Gatehouse, issuer: str, seed: int = 7) -> str:
    """Seed once; return what was done."""
    with gh.read() as db:
        if db.execute(select(func.count()).select_from(User)).scalar_one():
            return "the database already has users: not seeding"
    end = gh.now()
    generate_demo_databases(gh.data, end)
    clock = SimClock(end - timedelta(days=DAYS))
    sim = replace(gh, clock=clock)
    people = {sub: _enrolled(sim, issuer, sub) for sub, _, group in PEOPLE
              if gh.config.roles_for([group]) and sub not in NEWCOMERS}
    rng = random.Random(seed)
    story = _Story(sim, clock, people, rng)
    review = _Review(story, end)
    for _ in range(REQUESTS):
        clock.now += timedelta(minutes=rng.randint(200, 800))
        if clock.now > end - timedelta(hours=6):
            break
        story.one_request()
        review.advance()
    review.finish()
    review.run_one_off()
    story.breakglass(reviewed=True)
    clock.now = end - timedelta(hours=3)
    story.breakglass(reviewed=False)
    story.present(end)
    return f"seeded {len(people)} people and {story.count} requests"


class _Review:
    """A quarterly access review inside the story: started twelve days before the end, most
    items decided three days later, closed by the sweep at its due date (the rest keep by
    default), which schedules the next quarter's three months after this one's start. So that
    reviewers have something to decide, a one-off review of support access then runs."""

    def __init__(self, story: _Story, end: datetime) -> None:
        self.story, self.end = story, end
        self.campaign_id: int | None = None
        self.decided = self.closed = False
        self.due = end

    def advance(self) -> None:
        now = self.story.clock.now
        if self.campaign_id is None and now >= self.end - timedelta(days=12):
            self.due = min(now + timedelta(days=6), self.end - timedelta(hours=5))
            admin = self.story.admins[0].principal
            self.campaign_id = campaigns.start(self.story.gh, admin, campaigns.CampaignDraft(
                name="Quarterly access review", scopes=["role:requester", "role:approver",
                                                         "breakglass"],
                due_at=self.due, default_decision="keep", recur_months=3))
        elif self.campaign_id is not None and not self.decided and \
                now >= self.due - timedelta(days=3):
            self._decide(self.campaign_id)
            self.decided = True
        elif self.decided and not self.closed and now >= self.due:
            closing.close_due(self.story.gh)
            self.closed = True

    def finish(self) -> None:
        """Run the review to its end if the requests ended first (the clock only moves on)."""
        while not self.closed:
            self.story.clock.now += timedelta(minutes=30)
            self.advance()

    def run_one_off(self) -> None:
        """A one-off campaign over the support staff, due ten days after the story ends."""
        self.story.clock.now = max(self.story.clock.now, self.end - timedelta(days=2))
        campaigns.start(self.story.gh, self.story.admins[1].principal, campaigns.CampaignDraft(
            name="Support access check", scopes=["role:requester"],
            due_at=self.end + timedelta(days=10), default_decision="keep"))

    def _decide(self, campaign_id: int) -> None:
        """Each admin decides the items they may; the last one is left to the default."""
        gh = self.story.gh
        with gh.read() as db:
            items = db.execute(select(ReviewItem).where(ReviewItem.campaign_id == campaign_id)
                               .order_by(ReviewItem.id)).scalars().all()
        for item in items[:-1]:
            admin = next(a for a in self.story.admins if a.principal.user_id != item.user_id)
            decisions.keep(gh, self.story._fresh(admin), item.id,
                           "Still needed: on the support rota this quarter")


def _enrolled(gh: Gatehouse, issuer: str, sub: str) -> Persona:
    """A persona signed in (as the demo provider would) with an enrolled authenticator."""
    claims = PERSONAS[sub]
    roles = gh.config.roles_for(claims["groups"])
    now = gh.now()
    with gh.write() as db:
        user = User(iss=issuer, sub=sub, email=str(claims["email"]),
                    display_name=str(claims["name"]), created_at=now, last_login_at=now)
        db.add(user)
        db.flush()
        session = ConsoleSession(id=secrets.token_urlsafe(16), user_id=user.id,
                                 login_key=login_key(secrets.token_urlsafe(32)),
                                 roles=" ".join(sorted(roles)), created_at=now,
                                 last_seen_at=now, expires_at=now + timedelta(days=DAYS + 1))
        db.add(session)
        db.flush()
        principal = Principal(user.id, issuer, sub, user.display_name, frozenset(roles),
                              session.id, session.expires_at, None, None)
        gh.audit(db, event_for(principal, "auth.login", details={"groups": claims["groups"]}))
    secret = mfa.begin_enrollment(gh, principal).secret
    verified, _ = mfa.activate(gh, principal, _code(gh, secret))
    return Persona(verified, secret)


def _code(gh: Gatehouse, secret: str) -> str:
    return totp.code_at_step(secret, totp.time_step(gh.now().timestamp()))


class _Story:
    def __init__(self, gh: Gatehouse, clock: SimClock, people: dict[str, Persona],
                 rng: random.Random) -> None:
        self.gh, self.clock, self.people, self.rng, self.count = gh, clock, people, rng, 0
        self.support = [p for p in people.values() if Role.REQUESTER in p.principal.roles]
        self.admins = [p for p in people.values() if Role.APPROVER in p.principal.roles]

    def _fresh(self, persona: Persona) -> Principal:
        """Step-up for a sensitive action: a code of the current (simulated) time step."""
        self.clock.now += timedelta(seconds=31)
        persona.principal = mfa.verify_code(self.gh, persona.principal,
                                            _code(self.gh, persona.secret))
        return persona.principal

    def _draft(self) -> RequestDraft:
        rng = self.rng
        scopes = rng.sample(["account", "contacts", "subscriptions", "billing", "telemetry",
                             "devices", "bot_runs"], k=rng.choice([1, 1, 2]))
        hours = 1 if "billing" in scopes else rng.choice([1, 2, 4])
        ticket = f"SUP-{rng.randint(1000, 9999)}"
        return RequestDraft(
            customer_id=f"cust-{rng.randint(1, 60):04d}", environment="production",
            scopes=scopes, actions=rng.choice([["read"], ["read"], ["read", "reveal"]]),
            duration=timedelta(hours=hours), ticket=ticket,
            justification=rng.choice([
                f"{ticket}: customer reports a failed renewal; need to check the subscription",
                f"{ticket}: billing dispute, confirm the last invoices",
                f"{ticket}: app crashes on launch, check device and telemetry",
                f"{ticket}: bot pipeline stuck, inspect recent executions"]))

    def one_request(self) -> None:
        gh, rng = self.gh, self.rng
        requester = rng.choice(self.support)
        request_id = create_request.create(gh, requester.principal, self._draft())
        self.count += 1
        self.clock.now += timedelta(minutes=rng.randint(5, 90))
        fate = rng.choices(["approve", "deny", "cancel", "expire"], [70, 12, 8, 10])[0]
        if fate == "cancel":
            cancel_request.cancel(gh, requester.principal, request_id)
        elif fate == "deny":
            decide_request.decide(gh, self._fresh(rng.choice(self.admins)), request_id, False,
                                  "Not needed for this ticket: use the customer's own export")
        elif fate == "approve":
            self._approve(request_id, requester)
        # "expire": left pending; the sweeper expires it after its time-to-live

    def _approve(self, request_id: int, requester: Persona) -> None:
        gh, rng = self.gh, self.rng
        decision = None
        for admin in rng.sample(self.admins, k=len(self.admins)):
            decision = decide_request.decide(gh, self._fresh(admin), request_id, True,
                                             "Ticket checked")
            if decision.grant_id is not None:
                break
        if decision is None or decision.grant_id is None:
            return
        self._use(requester, decision.grant_id, request_id)
        self.clock.now += timedelta(minutes=rng.randint(10, 50))
        ending = rng.choices(["run out", "release", "revoke"], [75, 15, 10])[0]
        if ending == "release":
            grants.release(gh, requester.principal, decision.grant_id)
        elif ending == "revoke":
            grants.revoke(gh, rng.choice(self.admins).principal, decision.grant_id,
                          "Ticket closed before the grant ended")
        self.clock.now += timedelta(hours=4)
        sweep.record_expiries(gh)
        sweep.expire_pending(gh)

    def _use(self, holder: Persona, grant_id: int, request_id: int) -> None:
        """Read what the grant covers, as support would while working the ticket."""
        if not self.gh.data.urls:
            return
        with self.gh.read() as db:
            request = db.get_one(AccessRequest, request_id)
        for scope in request.scopes.split():
            self.clock.now += timedelta(minutes=self.rng.randint(1, 15))
            view = broker.read(self.gh, holder.principal, grant_id, request.customer_id, scope)
            if "reveal" in request.actions.split() and view.masked and self.rng.random() < 0.5:
                broker.reveal(self.gh, self._fresh(holder), grant_id, request.customer_id,
                              scope, [c for c in view.masked if c.startswith("contacts.")][:1]
                              or [view.masked[0]], "Customer asked us to confirm the details")

    def breakglass(self, reviewed: bool) -> None:
        gh = self.gh
        draft = replace(self._draft(), scopes=["account"], actions=["read"],
                        duration=timedelta(minutes=30), ticket="INC-4711")
        # two people: policy allows one break-glass per person a day (breakglass_per_day)
        holder = self.support[0] if reviewed else self.support[-1]
        grant_id = break_glass.activate(gh, self._fresh(holder), draft,
                                        "Production outage: customer cannot log in, INC-4711")
        if reviewed:
            self.clock.now += timedelta(hours=2)
            break_glass.review(gh, self.admins[0].principal, grant_id,
                               "Outage confirmed in INC-4711; access was appropriate")

    def present(self, end: datetime) -> None:
        """Bring the story to now: stale things expire, a few requests wait for approval."""
        self.clock.now = end - timedelta(hours=2)
        sweep.expire_pending(self.gh)
        sweep.record_expiries(self.gh)
        for minutes in (90, 45, 20):
            self.clock.now = end - timedelta(minutes=minutes)
            create_request.create(self.gh, self.support[minutes % len(self.support)].principal,
                                  self._draft())
            self.count += 1
        self.clock.now = end - timedelta(minutes=10)  # step-ups add seconds: end in the past
        requester = self.support[0]
        active = create_request.create(self.gh, requester.principal, replace(
            self._draft(), customer_id="cust-0042", scopes=["subscriptions", "account"],
            duration=timedelta(hours=4)))
        decide_request.decide(self.gh, self._fresh(self.admins[0]), active, True, "Ticket checked")
        self.count += 1
