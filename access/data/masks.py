"""Mask rules: how much of a column's value a read shows when the column is not revealed.

The catalog names one rule per column (`config/catalog.toml`, key `mask`) and decides which
rules a classification may use (`access.data.catalog`); the broker applies the rule to the
decrypted value. Every rule writes a fixed run of dots, never one dot per hidden character, so
no masked value tells how long the value is. What each rule reveals, exactly:

- `full`: nothing ("••••"), not even the length.
- `last4`: the last four letters or digits, separators dropped ("+44 20 7946 0123" →
  "••••0123"). A value with fewer than four shows nothing ("••••"). On a column that holds
  only four characters (a card's last four digits) this shows the whole value: use it only
  where those four are not secret by themselves.
- `email_domain`: the part after the last "@" ("•••@example.com"); a value without a local
  part or a domain shows nothing. A personal domain can itself name a person.
- `initial`: the first character of the trimmed value ("J•••"); an empty value shows nothing.
- `none`: the value in clear (the catalog allows it only for public and internal columns).

An absent value (NULL) stays absent under every rule: that a field is empty is not hidden.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MASK", "MaskRule", "masked"]

MASK = "••••"


class MaskRule(StrEnum):
    NONE = "none"
    FULL = "full"
    LAST4 = "last4"
    EMAIL_DOMAIN = "email_domain"
    INITIAL = "initial"


def masked(rule: MaskRule, value: object) -> object:
    """`value` as `rule` shows it (see the module docstring); None stays None."""
    if value is None or rule == MaskRule.NONE:
        return value
    text = value if isinstance(value, str) else str(value)
    if rule == MaskRule.LAST4:
        kept = [c for c in text if c.isalnum()]
        return MASK + "".join(kept[-4:]) if len(kept) >= 4 else MASK
    if rule == MaskRule.EMAIL_DOMAIN:
        local, at, domain = text.rpartition("@")
        return f"•••@{domain}" if at and local and domain.strip() else MASK
    if rule == MaskRule.INITIAL:
        trimmed = text.strip()
        return f"{trimmed[0]}•••" if trimmed else MASK
    return MASK
