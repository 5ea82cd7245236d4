"""The console's frame: the sign-in gate, then navigation built from the principal's roles."""

from __future__ import annotations

import streamlit as st

from access.authz import Action, allowed
from console.errors import database_failures
from console.gate import sign_out, signed_in
from console.markup import literal
from console.step_up import forget_other_pages

PAGES = [  # (script, title, icon, url path, the action it needs)
    ("console/pages/home.py", "Home", ":material/home:", "home", Action.VIEW_HOME),
    ("console/pages/request_access.py", "Request access", ":material/key:", "request",
     Action.REQUEST_CREATE),
    ("console/pages/my_access.py", "My access", ":material/badge:", "my-access",
     Action.REQUEST_CREATE),
    ("console/pages/customer_data.py", "Customer data", ":material/table_view:", "data",
     Action.DATA_READ),
    ("console/pages/approvals.py", "Approvals", ":material/approval:", "approvals",
     Action.APPROVALS_VIEW),
    ("console/pages/grants.py", "Grants", ":material/lock_open:", "grants",
     Action.GRANTS_VIEW_ALL),
    ("console/pages/reviews.py", "My reviews", ":material/rule:", "reviews", Action.VIEW_HOME),
    ("console/pages/review_campaigns.py", "Access reviews", ":material/checklist:",
     "review-campaigns", Action.REVIEWS_VIEW),
    ("console/pages/users.py", "Users", ":material/group:", "users", Action.USERS_VIEW),
    ("console/pages/restrictions.py", "Restrictions", ":material/block:", "restrictions",
     Action.RESTRICTIONS_VIEW),
    ("console/pages/audit_log.py", "Audit log", ":material/fact_check:", "audit",
     Action.AUDIT_VIEW),
    ("console/pages/audit_activity.py", "Activity", ":material/monitoring:", "audit-activity",
     Action.AUDIT_VIEW),
    ("console/pages/audit_grant.py", "Grant timeline", ":material/timeline:", "audit-grant",
     Action.AUDIT_VIEW),
    ("console/pages/audit_customer.py", "Customer access", ":material/person_search:",
     "audit-customer", Action.AUDIT_VIEW),
    ("console/pages/audit_verify.py", "Verify", ":material/verified:", "audit-verify",
     Action.AUDIT_VERIFY),
    ("console/pages/audit_transparency.py", "Transparency report", ":material/policy:",
     "audit-transparency", Action.TRANSPARENCY_REPORT),
    ("console/pages/review_evidence.py", "Review evidence", ":material/inventory:",
     "review-evidence", Action.REVIEWS_VIEW),
]


def main() -> None:
    st.set_page_config(page_title="Gatehouse", page_icon=":material/shield_lock:", layout="wide")
    with database_failures():
        _console()


def _console() -> None:
    gh, principal = signed_in()
    pages = [st.Page(path, title=title, icon=icon, url_path=url, default=url == "home")
             for path, title, icon, url, action in PAGES if allowed(principal, action)]
    with st.sidebar:
        st.write(f"**{literal(principal.name)}**  \n{', '.join(sorted(principal.roles))}")
        st.button("Sign out", on_click=sign_out, args=(gh, principal))
    chosen = st.navigation(pages)
    forget_other_pages(chosen.url_path)  # a sensitive action waits only on its own page
    chosen.run()
