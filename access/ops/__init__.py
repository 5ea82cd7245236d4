"""Operator commands behind `python -m access`: schema migrations (`migrate`),
PostgreSQL roles (`pg_roles`), the demo history (`demo`) and demo customer databases
(`generate_customers`).
"""

__all__ = ["demo", "generate_customers", "migrate", "pg_roles"]
