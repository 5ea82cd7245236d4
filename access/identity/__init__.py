"""Who is signed in: OIDC ID-token validation (`oidc/`), server-side sessions
(`sessions`), TOTP (`totp`, RFC 6238) and the MFA services built on it (`mfa`), and the users
Gatehouse knows (`users`).
"""

__all__ = ["mfa", "oidc", "sessions", "totp", "users"]
