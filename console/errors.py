"""The one place errors become what a person sees."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from access.errors import (
    AuthenticationFailed,
    Conflict,
    Denied,
    GatehouseError,
    InvalidFields,
    InvalidInput,
    StepUpRequired,
)


def show_error(exc: GatehouseError) -> None:
    """Explain `exc` plainly. Messages of our errors never carry secrets, so they are shown."""
    if isinstance(exc, InvalidFields):  # every field's rule, one a line
        st.error("  \n".join(f"**{p.field}**: {p.rule}" for p in exc.problems),
                 icon=":material/edit_off:")
    elif isinstance(exc, InvalidInput):
        st.error(f"**{exc.field}**: {exc.rule}", icon=":material/edit_off:")
    elif isinstance(exc, StepUpRequired):
        st.warning(f"{exc} — enter a code from your authenticator app below.",
                   icon=":material/lock_clock:")
    elif isinstance(exc, Denied):
        st.error(f"Not allowed: {exc}", icon=":material/block:")
    elif isinstance(exc, Conflict):
        st.warning(f"{exc}", icon=":material/sync_problem:")
    elif isinstance(exc, AuthenticationFailed):
        st.error(f"{exc}", icon=":material/key_off:")
    else:
        st.error(f"{exc}")


log = logging.getLogger("gatehouse.console")

UNAVAILABLE = ("The console database is not answering. What you were doing was not saved "
               "unless this page already confirmed it; try again in a moment.")


@contextmanager
def database_failures() -> Iterator[None]:
    """Turn a database failure in the block into one plain sentence on the page.

    The person sees no SQL, parameters or stack trace (ASVS 16.5.1). Nothing half-happens:
    every service runs its change and its audit event in one transaction, which the failure
    rolled back. The server log gets the error's class, not its text, which may quote values.
    """
    try:
        yield
    except (DBAPIError, PoolTimeout) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        log.error("console database failure: %s (sqlstate %s)", type(cause).__name__,
                  getattr(cause, "sqlstate", None))
        st.error(UNAVAILABLE, icon=":material/cloud_off:")
