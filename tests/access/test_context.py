"""A refusal is evidence (`Gatehouse.refuse`, `Gatehouse.deciding`): every refused attempt
leaves one DENIED event, and nothing else of it happens. On both engines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from access.context import Gatehouse, event_for
from access.errors import Denied
from access.identity import mfa, users
from access.identity.sessions import resume
from access.schema import MfaCredential, User
from access.workflow import break_glass, queries
from tests.support.identity_helpers import LocalIdP, sign_in
from tests.support.mfa_helpers import enroll
from tests.support.workflow_helpers import draft, events


def refusals(gh: Gatehouse) -> list[dict[str, Any]]:
    return [e for e in events(gh) if e["outcome"] == "denied"]


def test_deciding_rolls_back_the_block_and_records_the_refusal(gh_any: Gatehouse,
                                                                idp: LocalIdP) -> None:
    gh = gh_any
    ada, _, _ = enroll(gh, sign_in(gh, idp, "ada", "approver"))
    def refusing() -> None:
        with gh.deciding() as (db, refuse):
            db.get_one(User, ada.user_id).disabled_reason = "half-done change"
            refuse(Denied("not today"), event_for(ada, "user.disabled", reason="not today"))

    with pytest.raises(Denied, match="not today"):
        refusing()
    with gh.read() as db:
        assert db.get_one(User, ada.user_id).disabled_reason is None
    assert [e["reason"] for e in events(gh, "user.disabled")] == ["not today"]


def test_a_self_review_of_break_glass_is_refused_and_recorded(gh_any: Gatehouse,
                                                              idp: LocalIdP) -> None:
    gh = gh_any
    both, _, _ = enroll(gh, resume(gh, idp.token("dual", ["support", "admins"])))
    grant_id = break_glass.activate(gh, both, draft(duration=timedelta(minutes=30)),
                                    "production outage INC-9, customer down")
    with pytest.raises(Denied, match="their own break-glass"):
        break_glass.review(gh, both, grant_id, "looks fine to me")
    [refusal] = refusals(gh)
    assert (refusal["action"], refusal["grant_id"], refusal["actor_sub"]) == (
        "breakglass.reviewed", str(grant_id), "dual")
    assert [g.id for g in queries.all_grants(gh, both) if g.needs_review] == [grant_id]


def test_a_self_disable_is_refused_and_recorded(gh_any: Gatehouse, idp: LocalIdP) -> None:
    gh = gh_any
    ada, _, _ = enroll(gh, sign_in(gh, idp, "ada", "approver"))
    with pytest.raises(Denied, match="your own account"):
        users.disable(gh, ada, ada.user_id, "oops")
    [refusal] = refusals(gh)
    assert (refusal["action"], refusal["target_id"]) == ("user.disabled", f"{ada.iss}|ada")
    with gh.read() as db:
        assert db.get_one(User, ada.user_id).disabled_at is None


def test_an_own_authenticator_reset_is_refused_and_recorded(gh_any: Gatehouse,
                                                            idp: LocalIdP) -> None:
    gh = gh_any
    ada, _, _ = enroll(gh, sign_in(gh, idp, "ada", "approver"))
    with pytest.raises(Denied, match="your own authenticator"):
        mfa.reset(gh, ada, ada.user_id, "my own")
    [refusal] = refusals(gh)
    assert (refusal["action"], refusal["target_id"]) == ("auth.mfa.reset", f"{ada.iss}|ada")
    with gh.read() as db:
        assert db.execute(select(MfaCredential.user_id)).scalars().all() == [ada.user_id]
