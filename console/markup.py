"""Text that people or an identity provider typed, made safe for Streamlit's markdown calls.

`st.markdown`, `st.write`, `st.error` and the like render markdown: links, remote images (fetched
by the viewer's browser), emphasis, `:material/...:` icons, `:red[...]` colours and `$...$` LaTeX.
Display names come from the identity provider, where users can often edit them, so a name shown
inside such a call goes through `literal` first. Long free text (justifications, notes) is shown
with `st.text` instead.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def literal(text: str | None) -> str:
    """`text` as markdown that renders exactly as typed, on one line.

    CommonMark lets any ASCII punctuation be escaped with a backslash, and every markdown,
    directive and LaTeX construct starts with punctuation, so escaping all of it leaves nothing
    to interpret. Line breaks and other control characters become one space: a name cannot start
    a heading, list or quote on a line of its own.
    """
    return _PUNCTUATION.sub(r"\\\1", _BREAKS.sub(" ", text or ""))
