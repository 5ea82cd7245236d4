"""Review evidence (auditors): the evidence pack of a closed access-review campaign, as a
proved report (JSON, verified offline with `python -m audit verify-report`) and as CSV."""

from __future__ import annotations

import streamlit as st

from access.authz import Action
from access.errors import GatehouseError
from access.reviews import pack
from access.reviews.queries import campaigns
from console.errors import show_error
from console.gate import page
from console.markup import literal

gh, auditor = page(Action.REVIEWS_VIEW)
st.title("Review evidence")
st.caption("Every item of a closed campaign: its evidence, recommendation, decision, who "
           "decided and when, and what was applied, with the signed checkpoint and an "
           "inclusion proof of every decision event.")

closed = [c for c in campaigns(gh, auditor) if c.status == "closed"]
if not closed:
    st.info("No campaign has closed yet.")
    st.stop()
chosen = st.selectbox("Campaign", closed, format_func=lambda c: f"{c.id}. {c.name} "
                      f"(closed, due {c.due_at:%Y-%m-%d})")
if st.button("Cut evidence pack", type="primary") and chosen is not None:
    try:
        st.session_state["review_pack"] = pack.evidence_pack(gh, auditor, chosen.id)
    except GatehouseError as exc:
        st.session_state.pop("review_pack", None)
        show_error(exc)
cut: pack.EvidencePack | None = st.session_state.get("review_pack")
if cut is not None:
    st.success(f"Evidence pack of campaign {cut.campaign_id}: {cut.items} items, proved "
               f"against the checkpoint of tree size {cut.tree_size}.")
    json_col, csv_col = st.columns(2)
    json_col.download_button("Download pack (JSON, proved)", cut.document,
                             f"access-review-{cut.campaign_id}.json", "application/json")
    csv_col.download_button("Download items (CSV)", cut.csv,
                            f"access-review-{cut.campaign_id}.csv", "text/csv")
    st.code(f"python -m audit verify-report access-review-{cut.campaign_id}.json "
            "--public-key gatehouse-audit.pub", language="bash")
    st.caption(literal(pack.HOW_TO_VERIFY))
