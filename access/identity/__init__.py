"""Who is signed in: OIDC ID-token validation (`oidc/`), server-side sessions
(`sessions`), sign-ins refused at the provider callback (`refusals`), TOTP (`totp`, RFC 6238)
and the MFA services built on it (`mfa`), the users Gatehouse knows (`users`), and the client
address behind trusted proxies (`client_ip`).
"""

__all__ = ["client_ip", "mfa", "oidc", "refusals", "sessions", "totp", "users"]
