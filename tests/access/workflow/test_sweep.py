"""The sweeper's watch on the sealer: a stalled seal is announced to the admins' webhook, once."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from access.context import Gatehouse
from access.schema import Notification
from access.workflow.notify import Kind
from access.workflow.sweep import announce_seal_lag
from audit.sealer import seal_pending
from tests.support.identity_helpers import FakeClock, LocalIdP
from tests.support.workflow_helpers import team

MINUTE_US = 60_000_000


def seal_lag_messages(gh: Gatehouse) -> list[dict[str, object]]:
    with gh.read() as db:
        payloads = db.execute(select(Notification.payload).where(
            Notification.kind == Kind.SEAL_LAG)).scalars().all()
    return [json.loads(p) for p in payloads]


def test_a_stalled_seal_is_announced_once_per_stalled_event(
        gh_any: Gatehouse, idp: LocalIdP, clock: FakeClock, signing_key: Ed25519PrivateKey,
        checkpoint_dir: Path) -> None:
    gh = gh_any
    team(gh, idp)  # sign-ins and enrollments: events nobody has sealed yet
    assert not announce_seal_lag(gh, MINUTE_US)  # young: nothing to say
    clock.advance(minutes=2)
    assert announce_seal_lag(gh, MINUTE_US)
    assert not announce_seal_lag(gh, MINUTE_US)  # the same stall is not announced again
    [message] = seal_lag_messages(gh)
    assert message["blocks"][0]["text"]["text"] == "Audit log not sealed"  # type: ignore[index]
    stalled = message["gatehouse"]["oldest_unsealed_event"]  # type: ignore[index]
    assert "has waited 120 s" in str(message["text"]) and f"event {stalled} " in str(
        message["text"])

    seal_pending(gh.engine, signing_key, checkpoint_dir)
    clock.advance(minutes=10)
    assert not announce_seal_lag(gh, MINUTE_US)  # all sealed: nothing waits
    assert len(seal_lag_messages(gh)) == 1
