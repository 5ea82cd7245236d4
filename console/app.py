"""The console's navigation: which pages exist. Pages only call services and show results."""

from __future__ import annotations

import streamlit as st


def main() -> None:
    st.set_page_config(page_title="Gatehouse", page_icon=":material/shield_lock:", layout="wide")
    pages = [st.Page("console/audit_status.py", title="Audit log", icon=":material/fact_check:",
                     url_path="audit-status", default=True)]
    st.navigation(pages).run()
