"""Lists a person can send (scopes, actions, revealed columns): bounded before they are read.

The one home of the rule for every list-valued input: a list is checked against its known
values, so it can never be longer than they are; its length is checked first, with `len()`,
before a single element is read; every element is then looked up in a set and duplicates are
found with a set. So a crafted list (Streamlit's multiselect accepts values outside its
options from a hand-made browser message) costs at most `len(known)` set lookups, whatever its
length (issue 15, finding B1; ASVS 2.2.1 input validation, 15.2.2 resource limits).

Errors are `InvalidInput` naming the field and the rule; nothing is changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from access.errors import InvalidInput
from access.text import as_logged

__all__ = ["known_list"]


def known_list(field: str, values: object, known: Iterable[str], noun: str,
               unknown_rule: str | None = None) -> tuple[str, ...]:
    """`values` as a tuple once every element is a distinct member of `known`.

    Refuses, in this order and before reading more than it must: anything but a collection (a
    bare string too: it would iterate as letters), an empty one, one longer than `known` (by
    `len()` alone), an element that is not a known string (`unknown_rule`, else "is not a known
    <noun>"), and a repeated element. At most `len(known)` elements are ever read.
    """
    allowed = frozenset(known)
    if isinstance(values, str | bytes) or not isinstance(values, Collection):
        raise InvalidInput(field, f"must be a list of {noun}s")
    if not values:
        raise InvalidInput(field, f"choose at least one {noun}")
    if len(values) > len(allowed):
        raise InvalidInput(field, f"names {len(values)} {noun}s: at most {len(allowed)}, each "
                                  f"a known {noun} named once")
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or value not in allowed:
            shown = as_logged(repr(value), 60)
            raise InvalidInput(field, f"{shown} {unknown_rule or f'is not a known {noun}'}")
        if value in seen:
            raise InvalidInput(field, f"must not repeat a {noun}: {value}")
        seen.add(value)
    return tuple(values)
