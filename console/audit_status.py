"""Audit log status: how much is sealed and the newest signed checkpoint."""

from __future__ import annotations

import streamlit as st

from console.services import audit_status

status = audit_status()
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
