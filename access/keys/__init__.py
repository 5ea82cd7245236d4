"""Secrets that never live in a database: the AES-GCM box that seals TOTP secrets
(`secretbox`).
"""

__all__ = ["secretbox"]
