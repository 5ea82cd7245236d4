"""Write the Streamlit secrets.toml that points the console's st.login at the demo provider."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMPLATE = """\
# Written by scripts/demo_secrets.py for the local demo provider. Not for production.
[auth]
redirect_uri = "http://localhost:{console_port}/oauth2callback"
cookie_secret = "{cookie_secret}"
client_id = "gatehouse-demo"
client_secret = "demo-secret-not-for-production"
server_metadata_url = "{metadata_url}"
expose_tokens = "id"
client_kwargs = {{ scope = "openid email profile", prompt = "login" }}
"""


def write_secrets(path: Path, console_port: int, idp_port: int,
                  overwrite: bool = False, metadata_url: str | None = None) -> bool:
    """Write `path` (mode 0600); keep an existing file unless `overwrite`. True if written.
    `metadata_url` replaces the demo provider's discovery URL (tests point it elsewhere).

    Hosts are `localhost` on purpose: the provider derives its issuer from the Host header, and
    Streamlit rejects the auth cookie when the browser's origin differs from redirect_uri's.
    """
    if path.exists() and not overwrite:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata_url = (metadata_url
                    or f"http://localhost:{idp_port}/.well-known/openid-configuration")
    text = TEMPLATE.format(console_port=console_port, metadata_url=metadata_url,
                           cookie_secret=secrets.token_urlsafe(32))
    # Created 0600 from the start so the cookie secret is never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    return True
