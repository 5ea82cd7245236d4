"""What every service needs: the database, configuration, keys and the clock.

Services are plain functions taking a `Gatehouse` first, so tests build one with a real
database, a fake clock and a test IdP key, and the console builds one per process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access.authz import Action, StepUpRequired, require
from access.data.sources import CustomerData
from access.errors import Denied
from access.keys.secretbox import SecretBox
from access.principal import Principal
from access.settings.config import Config
from access.workflow.policy import Policy, load_policy
from audit.engine import write_engine
from audit.events import Actor, AuditEvent
from audit.log import Clock, append, utc_now
from audit.vocabulary import Outcome

IdTokenVerifier = Callable[[str, float], dict[str, Any]]


@dataclass
class Gatehouse:
    engine: Engine
    config: Config
    mfa_box: SecretBox
    verify_id_token: IdTokenVerifier
    clock: Clock = utc_now
    policy: Policy = field(default_factory=load_policy)
    data: CustomerData | None = None  # the customer databases the broker reads; None: none

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success."""
        with Session(write_engine(self.engine), expire_on_commit=False) as session, \
                session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def audit(self, db: Session, event: AuditEvent) -> None:
        append(db, event, clock=self.clock)

    def require(self, principal: Principal, action: Action) -> None:
        """`authz.require` with this deployment's step-up window and clock; a refusal is
        itself an audit event, written in its own transaction (the operation never ran)."""
        try:
            require(principal, action, self.now(), self.config.mfa.step_up)
        except StepUpRequired:
            raise  # a prompt for a fresh code, not a refusal
        except Denied as exc:
            with self.write() as db:
                self.audit(db, event_for(principal, "auth.page.denied", Outcome.DENIED,
                                         reason=str(exc), details={"page": str(action)}))
            raise


def event_for(principal: Principal, action: str, outcome: Outcome = Outcome.SUCCESS,
              **fields: Any) -> AuditEvent:
    """An audit event by `principal`, carrying their session, IP and user agent."""
    return AuditEvent(action, principal.actor, outcome, session_id=principal.session_id,
                      source_ip=principal.source_ip, user_agent=principal.user_agent, **fields)


def system_event(action: str, **fields: Any) -> AuditEvent:
    return AuditEvent(action, Actor("gatehouse", "system", "Gatehouse"), **fields)
