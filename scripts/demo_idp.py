"""The demo OpenID provider: oidc-provider-mock with Gatehouse's personas.

`python scripts/demo_idp.py` serves it on 127.0.0.1:$GATEHOUSE_IDP_PORT (default 9400) until
SIGINT/SIGTERM. The provider takes its issuer from the Host header, so clients must use
`http://localhost:PORT` (what `issuer_url` returns) and never mix in 127.0.0.1.

A persona's claims are custom claims, which oidc-provider-mock puts into the ID token whatever
the scope; that matters because Streamlit's st.user only sees ID-token claims.
"""

from __future__ import annotations

import os
import warnings

import httpx

from access.ops import demo

DEFAULT_PORT = 9400


# The personas live with the demo seed, so the provider and the seeded history agree.
PERSONAS = demo.PERSONAS


def idp_port() -> int:
    return int(os.environ.get("GATEHOUSE_IDP_PORT", str(DEFAULT_PORT)))


def issuer_url(port: int) -> str:
    return f"http://localhost:{port}"


def register_personas(base_url: str) -> None:
    """(Re-)register every persona on a running provider; it answers 204 per user."""
    for sub, claims in PERSONAS.items():
        response = httpx.put(f"{base_url}/users/{sub}", json=claims, timeout=5)
        if response.status_code != 204:
            raise RuntimeError(f"registering {sub} at {base_url}: HTTP {response.status_code}")


def describe_personas() -> str:
    return "\n".join(f"  {sub:<15} {claims['name']!s:<15} {_authenticator(sub, claims)}"
                     for sub, claims in PERSONAS.items())


def _authenticator(sub: str, claims: dict[str, object]) -> str:
    if sub in demo.NEWCOMERS:
        return f"groups={claims['groups']}  not enrolled: enrolls at first sign-in"
    if claims["groups"] == ["marketing"]:
        return f"groups={claims['groups']}  no Gatehouse role"
    return f"groups={claims['groups']}  enrolled: python -m access demo-code {sub}"


def main() -> None:
    # oidc-provider-mock 0.3.4 imports Authlib modules that Authlib now deprecates (noise, not
    # ours to fix). Authlib installs an "always" filter on import, so ours must come after it.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    import oidc_provider_mock
    import uvicorn

    # The provider's own CLI sets this: Authlib refuses plain-HTTP endpoints otherwise.
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    # Registering at construction (not via PUT) also shows one-click persona buttons on the
    # provider's authorize form.
    users = [oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in PERSONAS.items()]
    uvicorn.run(oidc_provider_mock.app(user_claims=users), interface="wsgi", host="127.0.0.1",
                port=idp_port(), log_level="warning")


if __name__ == "__main__":
    main()
