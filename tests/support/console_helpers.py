"""Drive the console with Streamlit's AppTest, signed in with real tokens from a real local
OpenID provider (oidc-provider-mock), over a real SQLite database."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from streamlit.testing.v1 import AppTest

from access.data.envelope import create_master_key_file
from access.data.sources import customer_data_from_env, generate_demo_databases
from access.identity import totp
from access.runtime import create_mfa_key
from access.workflow.policy import load_policy
from tests.support.databases import migrated_sqlite_file

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "gatehouse-apptest"
REDIRECT = "http://localhost:8501/oauth2callback"


def id_token(idp: str, sub: str) -> tuple[str, dict[str, object]]:
    """Sign `sub` in at the provider (authorization-code flow); return its ID token and its
    claims, which is what Streamlit puts in `st.user` (it never calls userinfo)."""
    with httpx.Client(timeout=10) as http:
        nonce = secrets.token_urlsafe(8)
        authorize = http.post(f"{idp}/oauth2/authorize", data={"sub": sub}, params={
            "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid email profile", "state": "s", "nonce": nonce})
        code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
        token = http.post(f"{idp}/oauth2/token", auth=(CLIENT_ID, "x"), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        }).json()["id_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token, claims


def prepare_data_dir(data_dir: Path) -> None:
    """What `make run` prepares, short of the demo history: schema, keys, customer data."""
    migrated_sqlite_file(data_dir / "gatehouse.db")
    create_mfa_key()
    create_master_key_file()
    policy = load_policy()
    generate_demo_databases(customer_data_from_env(list(policy.environments)),
                            datetime.now(UTC))


def console(idp: str, page: str = "streamlit_app.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.secrets["auth"] = {"server_metadata_url": f"{idp}/.well-known/openid-configuration",
                          "client_id": CLIENT_ID, "client_secret": "x",
                          "redirect_uri": REDIRECT, "cookie_secret": "x"}
    return at


def signed_in(at: AppTest, idp: str, sub: str) -> AppTest:
    token, claims = id_token(idp, sub)
    at.user = {"is_logged_in": True, **claims, "tokens": {"id": token}}
    return at


def enrolled(idp: str, sub: str, page: str | None = None) -> AppTest:
    """A console session of `sub`, signed in at `idp` and past a first enrollment (the code of
    the secret shown, typed back; the recovery codes acknowledged); on `page` if given, else
    on the home page. Enrolling counts as a fresh code, so step-up is satisfied for now."""
    at = signed_in(console(idp), idp, sub).run()
    submit_code(at, "enroll_code", at.code[0].value)
    next(b for b in at.button if b.label == "Continue").click().run()
    return at.switch_page(page).run() if page else at


def labelled(widgets: Any, label: str) -> Any:
    """The widget among `widgets` (e.g. `at.button`) whose label is `label`."""
    return next(w for w in widgets if w.label == label)


def submit_code(at: AppTest, key: str, secret: str, steps_ahead: int = 0) -> AppTest:
    """Type the authenticator's code into the text input `key` and press its form's button."""
    step = totp.time_step(time.time()) + steps_ahead
    at.text_input(key=key).input(totp.code_at_step(secret, step))
    ran: AppTest = form_button(at, key).click().run()
    return ran


def form_button(at: AppTest, input_key: str) -> Any:
    """The submit button of the form holding the text input `input_key`."""
    form = {"enroll_code": "enroll", "verify_code": "verify"}.get(input_key, input_key)
    return next(b for b in at.button if b.proto.form_id == form)
