"""The console's handle on the services: one `Gatehouse` per server process and configuration."""

from __future__ import annotations

import streamlit as st

from access import runtime
from access.context import Gatehouse
from access.errors import InvalidInput


def auth_settings() -> tuple[str, str]:
    """(issuer, client_id) from the `[auth]` section of `.streamlit/secrets.toml`."""
    try:
        auth = st.secrets["auth"]
        return (runtime.issuer_from_metadata_url(str(auth["server_metadata_url"])),
                str(auth["client_id"]))
    except (KeyError, FileNotFoundError) as exc:
        raise InvalidInput("auth", "sign-in is not configured in .streamlit/secrets.toml "
                                   "(`make run` writes a demo configuration)") from exc


@st.cache_resource(show_spinner=False)
def _build(url: str, issuer: str, client_id: str) -> Gatehouse:
    del url  # part of the cache key: another database means other services
    return runtime.build(issuer, client_id)


def services() -> Gatehouse:
    return _build(runtime.database_url(), *auth_settings())
