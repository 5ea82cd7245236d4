"""The console's frame: the sign-in gate, then navigation built from the principal's roles."""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

import streamlit as st

from access.authz import Action, allowed
from access.context import Gatehouse
from access.errors import Denied
from access.principal import Principal
from console.errors import database_failures
from console.gate import WANTED_PAGE, sign_out, signed_in
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
    ("console/pages/dsr.py", "Data subjects", ":material/assignment_ind:", "dsr",
     Action.DSR_VIEW),
    ("console/pages/review_evidence.py", "Review evidence", ":material/inventory:",
     "review-evidence", Action.REVIEWS_VIEW),
]


def main() -> None:
    st.set_page_config(page_title="Gatehouse", page_icon=":material/shield_lock:", layout="wide")
    with database_failures():
        _console()


def _console() -> None:
    gh, principal = signed_in()
    pages = [st.Page(path, title=title, icon=icon, url_path=url)
             for path, title, icon, url, action in PAGES if allowed(principal, action)]
    # Every page's URL works (/home too: a default page answers only at "/"). "/" itself is a
    # hidden page that shows Home's script in place (switching to Home there raced a person's
    # first click: the late switch could win); a page the role does not allow answers with
    # Home and a message instead of Streamlit's "Page not found", and its refusal is logged.
    home = pages[0]  # every role has Home
    refused = [st.Page(functools.partial(_not_allowed, gh, principal, title, action, home),
                       title=title, url_path=url, visibility="hidden")
               for _, title, _, url, action in PAGES if not allowed(principal, action)]
    landing = st.Page(PAGES[0][0], title=PAGES[0][1], url_path="start", default=True,
                      visibility="hidden")
    known = {landing.url_path, *(p.url_path for p in [*pages, *refused])}
    unknown = [st.Page(functools.partial(_not_found, typed, home), title="Not found",
                       url_path=typed, visibility="hidden")
               for typed in [_typed_page()] if typed is not None and typed not in known]
    with st.sidebar:
        st.write(f"**{literal(principal.name)}**  \n{', '.join(sorted(principal.roles))}")
        st.button("Sign out", on_click=sign_out, args=(gh, principal))
    chosen = st.navigation([landing, *pages, *refused, *unknown])
    wanted = st.session_state.pop(WANTED_PAGE, None)
    if chosen.url_path == landing.url_path and wanted is not None:
        # Signed in from a deep link: its page (or Home with a message) instead of Home.
        for target in [*pages, *refused]:
            if target.url_path == wanted:
                st.switch_page(target)
    forget_other_pages(chosen.url_path)  # a sensitive action waits only on its own page
    if (notice := st.session_state.pop("page_notice", None)) is not None:
        st.info(notice, icon=":material/info:")
    chosen.run()


def _not_allowed(gh: Gatehouse, principal: Principal, title: str, action: Action,
                 home: st.Page) -> None:
    """A typed or remembered URL of a page this role does not have: log the refusal (the
    choke point does), then Home with a message saying so."""
    try:
        gh.authorize(principal, action)
    except Denied:
        st.session_state["page_notice"] = (f"Your role does not include the page {title}, "
                                           "so you are on Home.")
    st.switch_page(home)


# A URL segment Streamlit's page registry accepts as a `url_path` (RFC 3986 unreserved).
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]{1,64}", re.ASCII)


def _typed_page() -> str | None:
    """The page segment of the URL this browser session opened, if it could name a page.

    Streamlit answers a URL that names no registered page with its own "Page not found"
    dialog and runs the default page under that URL (streamlit/commands/navigation.py,
    `send_page_not_found`); so a typed segment that names no page of this role is registered
    as a hidden page of its own, which sends the person to Home. A nested path cannot be a
    page (`url_path` cannot include "/") and still gets Streamlit's dialog."""
    url = st.context.url
    path = urlsplit(url).path.strip("/") if url else ""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    if base:
        path = path.removeprefix(base).strip("/")
    return path if _SEGMENT.fullmatch(path) else None


def _not_found(typed: str, home: st.Page) -> None:
    """A typed URL that names no page: Home, with a message saying so."""
    st.session_state["page_notice"] = f"There is no page /{typed}, so you are on Home."
    st.switch_page(home)
