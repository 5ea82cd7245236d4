"""Configuration read from files: `config` (`config/gatehouse.toml`: roles,
sessions, MFA, anomaly thresholds).
"""

__all__ = ["config"]
