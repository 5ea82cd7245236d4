"""Audit log (auditors): how much is sealed, the newest signed checkpoint, recent events."""

from __future__ import annotations

import streamlit as st

from access.authz import Action
from audit.status import log_status
from console.gate import page

gh, auditor = page(Action.AUDIT_VIEW)
status = log_status(gh.engine)
st.title("Audit log")
left, middle, right = st.columns(3)
left.metric("Events", status.events)
middle.metric("Sealed", status.sealed)
right.metric("Awaiting the sealer", status.events - status.sealed)
if status.latest_checkpoint:
    st.caption("Newest signed checkpoint")
    st.code(status.latest_checkpoint, language=None)
else:
    st.info("No checkpoint yet: the sealer writes one within a second of the first event.")
