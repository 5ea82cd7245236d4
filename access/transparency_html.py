"""The access-transparency report as a readable, self-contained HTML document: the same
content as the JSON it is rendered from (period, customer, every row with its pseudonym and
reasons, the checkpoint it was cut against, how to verify). Every value is escaped: a ticket
or a justification is text someone typed, never markup."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

__all__ = ["render_html"]

_ACTION = {"data.read": "read", "data.revealed": "reveal", "data.exported": "export"}
_COLUMNS = ("Time (UTC)", "Action", "Scope", "Ticket", "Justification", "Reason given",
            "Columns shown in clear", "Staff", "Role", "Grant", "Request", "Event")
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
pre { background: #f7f7f7; padding: 0.75rem; overflow-x: auto; }
.meta dt { font-weight: 600; } .meta dd { margin: 0 0 0.5rem 0; }
td.nowrap { white-space: nowrap; }
td.names { overflow-wrap: anywhere; }
.wide { overflow-x: auto; }
"""
_COMMAND = ("python -m audit verify-report REPORT.json --public-key gatehouse-audit.pub\n"
            "python -m audit verify-report REPORT.json --public-key gatehouse-audit.pub "
            "--opening OPENING.json   # an auditor holding the opening")
_NOWRAP = {0, 7, 8}  # time, staff, role: short, and unreadable when broken
_NAMES = {6}  # columns shown in clear: long dotted names, broken anywhere rather than overflow


def render_html(document: Mapping[str, Any]) -> str:
    """`document` (a proved access-transparency report) as one HTML page."""
    body: Mapping[str, Any] = document["body"]
    rows = body.get("rows", [])
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(body.get('title'))}: {_e(body.get('customer_id'))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(body.get('title'))}</h1>",
        _meta(body, document, len(rows)),
        f"<h2>Consultations ({len(rows)})</h2>",
        _table(rows) if rows else "<p>No consultation of this customer's data in the period."
                                  "</p>",
        f"<h2>How these were counted</h2><p>{_e(body.get('counting_rule'))}</p>",
        f"<p>{_e(body.get('staff_rule'))}</p>",
        f"<h2>How to verify</h2><p>{_e(body.get('how_to_verify'))}</p>",
        f"<pre>{_e(_COMMAND)}</pre>",
        f"<p>Public key fingerprint: <code>{_e(body.get('public_key_fingerprint'))}</code></p>",
        "<h3>Signed checkpoint</h3>",
        f"<pre>{_e(document.get('checkpoint'))}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _meta(body: Mapping[str, Any], document: Mapping[str, Any], count: int) -> str:
    period = body.get("period", {})
    items = [("Customer", body.get("customer_id")),
             ("Period", f"from {period.get('since')} up to (not including) "
                        f"{period.get('until')}"),
             ("Generated", body.get("generated_at")),
             ("Cut against", f"the checkpoint of tree size {document.get('tree_size')}, "
                             f"signed at {body.get('checkpoint_time')}"),
             ("Listed", f"{count} consultation(s), each with an inclusion proof"),
             ("Too recent to prove", f"{body.get('unsealed_in_period', 0)} consultation(s) "
                                     "in the period, not listed")]
    inner = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f'<dl class="meta">{inner}</dl>'


def _table(rows: list[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in _COLUMNS)
    # In a scrolling box: on a narrow window the table scrolls instead of being cut off.
    return (f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>'
            + "".join(_row(r) for r in rows) + "</tbody></table></div>")


def _row(row: Mapping[str, Any]) -> str:
    justification = row.get("justification") or {}
    when = str(row.get("time", ""))[:19].replace("T", " ")  # to the second; the JSON has more
    cells = (when, _ACTION.get(str(row.get("action")), row.get("action")),
             row.get("details.scope"), row.get("ticket"), justification.get("reason"),
             row.get("reason"), ", ".join(row.get("details.columns") or []), row.get("staff"),
             row.get("actor_roles"), row.get("grant_id"), row.get("request_id"),
             row.get("event_id"))
    return "<tr>" + "".join(f'<td class="{_class(i)}">{_e(c)}</td>' if _class(i)
                            else f"<td>{_e(c)}</td>" for i, c in enumerate(cells)) + "</tr>"


def _class(column: int) -> str:
    return "nowrap" if column in _NOWRAP else "names" if column in _NAMES else ""


def _e(value: object) -> str:
    return "" if value is None else escape(str(value))
