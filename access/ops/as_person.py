"""Commands that act as a signed-in person (`python -m access dsr`, `python -m access
transparency-report`): the person named by `--as` (their subject) acts through their newest
live console session, so the roles are what their identity provider last asserted at
sign-in, with a fresh authenticator code, which is also the step-up where one is needed. No
session, a wrong code or a missing role is refused by the same services and recorded the same
way as in the console. What such a command writes goes into a private folder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from access.context import Gatehouse
from access.errors import AuthenticationFailed
from access.identity import mfa
from access.keys.files import create_private, private_dir
from access.principal import Principal, Role
from access.schema import ConsoleSession, User

__all__ = ["person", "write_private"]


def person(gh: Gatehouse, sub: str, code: str, agent: str) -> Principal:
    """`sub` acting through their newest live console session, with `code` just verified;
    `agent` (the command) is recorded as the user agent of what they do."""
    now = gh.now()
    with gh.read() as db:
        found = db.execute(select(ConsoleSession, User).join(User)
                           .where(User.sub == sub, User.disabled_at.is_(None),
                                  ConsoleSession.ended_at.is_(None),
                                  ConsoleSession.expires_at > now,
                                  ConsoleSession.last_seen_at > now - gh.config.sessions.idle,
                                  ConsoleSession.mfa_verified_at.is_not(None))
                           .order_by(ConsoleSession.created_at.desc())).first()
    if found is None:
        raise AuthenticationFailed(f"{sub[:64]} has no live console session: sign in to the "
                                   "console first")
    session, user = found
    principal = Principal(user.id, user.iss, user.sub, user.display_name,
                          frozenset(Role(r) for r in session.roles.split()), session.id,
                          session.expires_at, session.mfa_verified_at, session.step_up_at,
                          None, agent)
    return mfa.verify_code(gh, principal, code)


def write_private(out: Path, files: dict[str, bytes]) -> str:
    """Write `files` (name to content) into the private folder `out` (made if absent), each file
    readable by its owner only; what to print."""
    private_dir(out)
    for name, data in files.items():
        with open(create_private(out / name), "wb") as handle:
            handle.write(data)
    return f"wrote {', '.join(str(out / n) for n in files)}"
