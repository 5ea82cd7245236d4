"""The audit event of each step of a request's life, and how its lists are written."""

from __future__ import annotations

from collections.abc import Sequence

from access.context import event_for, system_event
from access.principal import Principal
from access.schema import AccessRequest, Grant
from audit.events import AuditEvent
from audit.vocabulary import Outcome

__all__ = ["request_event", "words"]


def words(values: Sequence[str]) -> str:
    """Scopes or actions as they are stored: sorted, space-separated."""
    return " ".join(sorted(values))


def request_event(principal: Principal | None, action: str, request: AccessRequest,
                  outcome: Outcome = Outcome.SUCCESS, reason: str | None = None,
                  grant: Grant | None = None, **details: object) -> AuditEvent:
    """The audit event of a step on `request`, by `principal` (or the system)."""
    fields = {"target_type": "access_request", "target_id": str(request.id),
              "customer_id": request.customer_id, "request_id": str(request.id),
              "grant_id": None if grant is None else str(grant.id),
              "ticket": request.ticket, "policy_version": request.policy_version,
              "reason": reason if reason is not None else request.justification,
              "details": {"environment": request.environment,
                          "scopes": request.scopes.split(), "actions": request.actions.split(),
                          "duration_s": request.duration_s, **details}}
    if principal is None:
        return system_event(action, outcome=outcome, **fields)
    return event_for(principal, action, outcome, **fields)
