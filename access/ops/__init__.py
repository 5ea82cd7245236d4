"""Operator commands behind `python -m access`: schema migrations (`migrate`),
PostgreSQL roles (`pg_roles`), the demo history (`demo`), demo customer databases
(`generate_customers`), and commands acting as a signed-in person (`as_person`):
data-subject requests (`dsr_cli`) and transparency reports (`transparency_cli`).
"""

__all__ = ["as_person", "demo", "dsr_cli", "generate_customers", "migrate", "pg_roles",
           "transparency_cli"]
