"""Configuration read from files: `config` (`config/gatehouse.toml`: roles, sessions, MFA,
anomaly thresholds), on the one typed TOML reader every configuration file uses (`toml`:
errors name the file, the dotted key and the rule).
"""

__all__ = ["config", "toml"]
