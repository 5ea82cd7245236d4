"""The console's handles on the services, created once per server process."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from audit.engine import make_engine
from audit.settings import database_url
from audit.status import LogStatus, log_status


@st.cache_resource
def engine() -> Engine:
    return make_engine(database_url())


def audit_status() -> LogStatus:
    return log_status(engine())
