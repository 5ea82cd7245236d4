"""Who is acting: a signed-in person, their roles for this session, and their MFA state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from audit.events import Actor


class Role(StrEnum):
    REQUESTER = "requester"  # support staff
    APPROVER = "approver"    # admins
    AUDITOR = "auditor"
    PRIVACY_OFFICER = "privacy_officer"  # data-subject requests; never customer data by grant


@dataclass(frozen=True)
class Principal:
    user_id: int
    iss: str
    sub: str
    name: str | None
    roles: frozenset[Role]
    session_id: str
    session_expires_at: datetime
    mfa_verified_at: datetime | None
    step_up_at: datetime | None
    source_ip: str | None = None
    user_agent: str | None = None

    @property
    def mfa_verified(self) -> bool:
        return self.mfa_verified_at is not None

    def step_up_fresh(self, now: datetime, window: timedelta) -> bool:
        return self.step_up_at is not None and now - self.step_up_at < window

    @property
    def actor(self) -> Actor:
        return Actor(self.iss, self.sub, self.name, tuple(sorted(self.roles)))
