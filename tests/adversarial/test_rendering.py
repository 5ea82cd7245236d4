"""Nothing a user or an identity provider typed is rendered as HTML or markdown (ASVS 3.2.2,
1.3.5; A6 37).

Streamlit escapes HTML unless `unsafe_allow_html` is set, but `st.markdown`, `st.write`,
`st.title`, `st.success`, `st.error` and friends render markdown: links, images (fetched by
the viewer's browser) and emphasis that can make one customer id look like another. So free
text goes through `st.text`, `st.code` or a dataframe, and never into a markdown-rendering
call; pages never opt into raw HTML.

Already covered, not repeated: a justification holding HTML and markdown is shown verbatim
with `st.text` on the Approvals page (tests/console/test_console_workflow.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from streamlit.testing.v1 import AppTest

from tests.adversarial.support import ROOT
from tests.support.console_helpers import console, signed_in, submit_code

PAGES = [*sorted((ROOT / "console").rglob("*.py")), ROOT / "streamlit_app.py"]
MARKDOWN_CALLS = {"markdown", "write", "title", "header", "subheader", "caption", "success",
                  "error", "warning", "info", "toast", "expander", "button", "metric",
                  "page_link"}  # a link's label is markdown too
FREE_TEXT = {"justification", "reason", "comment", "note", "review_note", "revoke_reason",
             "decision_comment", "disabled_reason",
             # display names come from the identity provider, where users may edit their own
             "name", "requester", "holder", "actor_name", "labels", "sub", "iss"}


def _calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def raw_html(path: Path) -> list[str]:
    """Where `path` opts into raw HTML: st.html, iframes, unsafe_allow_html, components."""
    found = []
    for call in _calls(path):
        func = call.func
        named = func.attr if isinstance(func, ast.Attribute) else \
            func.id if isinstance(func, ast.Name) else ""
        if named in {"html", "iframe"} or any(k.arg == "unsafe_allow_html"
                                              for k in call.keywords):
            found.append(f"{path.name}:{call.lineno}")
    if "streamlit.components" in path.read_text():
        found.append(f"{path.name}: imports streamlit.components")
    return found


def free_text_in_markdown(path: Path) -> list[str]:
    """Markdown-rendering calls in `path` whose arguments mention a free-text field."""
    found = []
    for call in _calls(path):
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in MARKDOWN_CALLS):
            continue
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            shown = list(_outside_literal(arg))
            used = {n.attr for n in shown if isinstance(n, ast.Attribute)} | \
                   {n.id for n in shown if isinstance(n, ast.Name)}
            if used & FREE_TEXT:
                found.append(f"{path.name}:{call.lineno} {sorted(used & FREE_TEXT)}")
    return found


def _outside_literal(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and its descendants, except what is wrapped in `literal(...)` (console.markup),
    which escapes markdown."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "literal":
        return
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _outside_literal(child)


def test_no_page_opts_into_raw_html() -> None:
    assert [hit for path in PAGES for hit in raw_html(path)] == []


def test_free_text_never_reaches_a_markdown_rendering_call() -> None:
    """Justifications, reasons, comments and notes are typed by people; a markdown call that
    interpolates one would render their links and images for the next reader."""
    assert [hit for path in PAGES for hit in free_text_in_markdown(path)] == []


def test_the_scans_see_what_they_look_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import streamlit as st\n"
                   "st.markdown(f'why: {r.justification}')\n"
                   "st.success('done: ' + reason)\n"
                   "st.text(r.justification)\n"
                   "st.markdown('<b>x</b>', unsafe_allow_html=True)\n"
                   "st.error(f'by {r.requester} and {literal(r.holder)}')\n"
                   "st.html('<b>x</b>')\n")
    assert free_text_in_markdown(bad) == ["bad.py:2 ['justification']", "bad.py:3 ['reason']",
                                          "bad.py:6 ['requester']"]
    assert raw_html(bad) == ["bad.py:5", "bad.py:7"]


SPOOF = ("Eve ![pixel](https://evil.example/p.png) [approve here](https://evil.example) "
         "**`cust-0001`**")


def test_a_requesters_display_name_is_not_rendered_as_markdown_for_approvers(
        oidc: str, data_dir: Path) -> None:
    httpx.put(f"{oidc}/users/eve.support", timeout=5, json={
        "email": "eve@example.test", "name": SPOOF, "groups": ["support"]}).raise_for_status()
    eve = _enrolled(oidc, "eve.support", "console/pages/request_access.py")
    _labelled(eve.text_input, "Customer id").input("cust-0042")
    _labelled(eve.text_input, "Ticket").input("SUP-2001")
    _labelled(eve.multiselect, "Data scopes").select("subscriptions")
    _labelled(eve.text_area, "Justification").input("SUP-2001: renewal failed, check it")
    _labelled(eve.button, "Submit request").click().run()
    assert "filed" in eve.success[0].value
    ada = _enrolled(oidc, "ada.admin", "console/pages/approvals.py")
    shown = [m.value for m in ada.markdown]
    assert any("cust-0042" in m for m in shown)  # the request is on screen
    assert not any(SPOOF in m for m in shown), "the raw name went into markdown"


def _enrolled(oidc: str, sub: str, page: str) -> AppTest:
    at = signed_in(console(oidc), oidc, sub).run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    return at.switch_page(page).run()


def _labelled(widgets: Any, label: str) -> Any:
    return next(w for w in widgets if w.label == label)
