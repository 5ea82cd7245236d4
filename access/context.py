"""What every service needs: the database, configuration, keys and the clock.

Services are plain functions taking a `Gatehouse` first, so tests build one with a real
database, a fake clock and a test IdP key, and the console builds one per process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access.authz import Action, require
from access.data.sources import CustomerData
from access.errors import Denied, GatehouseError
from access.keys.secretbox import SecretBox
from access.principal import Principal
from access.reviews.suspensions import withheld
from access.settings.config import Config
from access.workflow.policy import Policy
from audit.engine import write_engine
from audit.events import SYSTEM, AuditEvent
from audit.log import Clock, append, utc_now
from audit.vocabulary import Outcome

IdTokenVerifier = Callable[[str, float], dict[str, Any]]
Refuse = Callable[[GatehouseError, AuditEvent], NoReturn]
"""Inside `Gatehouse.deciding`: end the decision with this refusal, recorded as evidence."""


class _Refusal(Exception):
    def __init__(self, error: GatehouseError, event: AuditEvent) -> None:
        super().__init__(str(error))
        self.error, self.event = error, event


@dataclass(frozen=True)
class Gatehouse:
    """Everything a service may use, fixed when built (`access.runtime` for the console and
    the CLI; tests build their own). Nothing here reads a file or the environment."""

    engine: Engine
    config: Config
    mfa_box: SecretBox
    verify_id_token: IdTokenVerifier
    policy: Policy
    clock: Clock = utc_now
    # The customer databases the broker reads; the null object refuses every use.
    data: CustomerData = field(default_factory=CustomerData.none)

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

    def audit(self, db: Session, event: AuditEvent) -> int:
        """Append `event` in `db`'s transaction; returns its id."""
        return append(db, event, clock=self.clock)

    def refuse(self, error: GatehouseError, event: AuditEvent) -> NoReturn:
        """A refusal is evidence: record `event` (its own transaction), then raise `error`."""
        with self.write() as db:
            self.audit(db, event)
        raise error

    @contextmanager
    def deciding(self) -> Iterator[tuple[Session, Refuse]]:
        """A write transaction that may end in a refusal: `refuse(error, event)` rolls back
        whatever the block changed, records `event` in its own transaction and raises `error`.
        So every refusal found while looking at the rows leaves its audit event, and nothing
        else of the refused operation happens."""
        def refuse(error: GatehouseError, event: AuditEvent) -> NoReturn:
            raise _Refusal(error, event)

        try:
            with self.write() as db:
                yield db, refuse
        except _Refusal as refusal:
            self.refuse(refusal.error, refusal.event)

    def authorize(self, principal: Principal, action: Action) -> None:
        """`authz.require` with this deployment's step-up window and clock. Side effect: a
        refusal is written as an audit event, in its own transaction (the operation never
        ran); `StepUpRequired`, a prompt rather than a refusal, is not."""
        try:
            require(self._unsuspended(principal), action, self.now(),
                    self.config.mfa.step_up)
        except Denied as exc:
            with self.write() as db:
                self.audit(db, event_for(principal, "auth.page.denied", Outcome.DENIED,
                                         reason=str(exc), details={"page": str(action)}))
            raise

    def _unsuspended(self, principal: Principal) -> Principal:
        """`principal` without the roles an access review suspended since it signed in (its
        sessions were ended then; this holds for a principal already in hand)."""
        with self.read() as db:
            suspended = withheld(db, principal.user_id)
        return replace(principal, roles=principal.roles - suspended) if suspended else principal


def event_for(principal: Principal, action: str, outcome: Outcome = Outcome.SUCCESS,
              **fields: Any) -> AuditEvent:
    """An audit event by `principal`, carrying their session, IP and user agent."""
    return AuditEvent(action, principal.actor, outcome, session_id=principal.session_id,
                      source_ip=principal.source_ip, user_agent=principal.user_agent, **fields)


def system_event(action: str, **fields: Any) -> AuditEvent:
    """An audit event by Gatehouse itself (the sweeper, the CLI)."""
    return AuditEvent(action, SYSTEM, **fields)
