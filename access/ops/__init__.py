"""Operator commands behind `python -m access`: schema migrations (`migrate`),
PostgreSQL roles (`pg_roles`), the demo history (`demo`), demo customer databases
(`generate_customers`) and data-subject requests from a terminal (`dsr_cli`).
"""

__all__ = ["demo", "dsr_cli", "generate_customers", "migrate", "pg_roles"]
