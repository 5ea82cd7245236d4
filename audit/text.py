"""Text both databases and the audit log can keep exactly: the bottom of the one text rule.

PostgreSQL refuses NUL in text, and an unpaired surrogate is not Unicode at all (no driver can
even send it). Such text is refused with a message, never altered and never left to fail deep
inside a transaction. `access.text` builds its rules (reasons, escaped log text) on this one.
"""

from __future__ import annotations

__all__ = ["UNSTORABLE_RULE", "storable", "why_unstorable"]

UNSTORABLE_RULE = "must be plain text: no NUL characters and no unpaired surrogates"


def why_unstorable(text: str) -> str | None:
    """None when `text` can be stored exactly, else the rule it breaks, for a message."""
    if "\x00" in text:
        return "NUL characters cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, not valid Unicode text"
    return None


def storable(text: str) -> bool:
    """Whether both databases and the audit log can keep `text` exactly."""
    return why_unstorable(text) is None
