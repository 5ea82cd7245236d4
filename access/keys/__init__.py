"""Secrets that never live in a database: key files and variables (`files`: read, or create
0600 in a 0700 folder, race-safe) and the AES-GCM box that seals TOTP secrets (`secretbox`).
"""

__all__ = ["files", "secretbox"]
