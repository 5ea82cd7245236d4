"""Text from people and from outside, as the database can store it and the log can show it.

The one home of these rules; every use case and the console import them from here:
- `storable` / `UNSTORABLE_RULE`: no NUL, no unpaired surrogate (the rule itself lives in
  `audit.text`, the bottom layer, because the audit log enforces it too);
- `as_logged`: outside text (a claim, a header, a crafted id) cut and escaped so it can always
  be recorded, even in the event that refuses it;
- `checked_reason` / `MAX_REASON`: the reason an admin or approver types.
"""

from __future__ import annotations

from access.errors import InvalidInput
from audit.text import UNSTORABLE_RULE, storable

__all__ = ["MAX_REASON", "UNSTORABLE_RULE", "as_logged", "checked_reason", "storable"]

MAX_REASON = 500


def as_logged(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, as the log can hold it: a NUL or an unpaired surrogate
    is written as its escape (\\x00, \\ud800), anything else is kept as it is. So a crafted
    value can never keep its own sign-in or refusal out of the log."""
    cut = text[:limit]
    if storable(cut):
        return cut
    return cut.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def checked_reason(reason: object) -> str:
    """A reason an admin typed: required, trimmed, bounded, storable."""
    if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= MAX_REASON:
        raise InvalidInput("reason", f"must be 3 to {MAX_REASON} characters")
    if not storable(reason):
        raise InvalidInput("reason", UNSTORABLE_RULE)
    return reason.strip()
