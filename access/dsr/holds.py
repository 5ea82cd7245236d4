"""Per-subject restriction in the broker (GDPR Art. 18, and an open objection, Art. 21): a held
subject's contact row is masked whole in a read, and a reveal or an export that would include
it is refused, saying why (the broker records the refusal as `data.denied`).

The broker's one call is `hold_subjects`, after the rows are fetched and before the event is
written; it reads the console database's `subject_restrictions` for that one customer.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from access.context import Gatehouse
from access.errors import Denied
from access.schema import SubjectRestriction

__all__ = ["SubjectRestricted", "hold_subjects"]

HELD_TABLE = "contacts"  # where a data subject is a row
_KEPT = frozenset({"id", "customer_id"})  # what stays readable of a held row


class SubjectRestricted(Denied):
    """The asked-for rows include a data subject whose processing is restricted."""


def hold_subjects(gh: Gatehouse, environment: str, customer_id: str, action: str,
                  frames: dict[str, pd.DataFrame], mask: str
                  ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Mask every held row of `frames` in place (a read), or refuse (a reveal, an export).

    Returns what a read masked, for the page to say why: the held rows' ids and the
    data-subject requests holding them, each sorted; both empty when no row is held."""
    frame = frames.get(HELD_TABLE)
    if frame is None or frame.empty:
        return (), ()
    with gh.read() as db:
        held = dict(db.execute(select(SubjectRestriction.contact_id, SubjectRestriction.dsr_id)
                               .where(SubjectRestriction.environment == environment,
                                      SubjectRestriction.customer_id == customer_id)).all())
    rows = frame["id"].isin(list(held))
    if not held or not rows.any():
        return (), ()
    ids = tuple(sorted(int(i) for i in frame.loc[rows, "id"]))
    requests = tuple(sorted({held[i] for i in ids}))
    if action != "read":
        raise SubjectRestricted(
            f"{HELD_TABLE} row(s) {', '.join(map(str, ids))} belong to a data subject whose "
            f"processing is restricted (data-subject request "
            f"{', '.join(map(str, requests))}, GDPR Art. 18/21): they cannot be revealed or "
            f"exported")
    for column in frame.columns:
        if column not in _KEPT:
            frame[column] = frame[column].astype(object)
            frame.loc[rows, column] = mask
    return ids, requests
