"""The production application's customer data, as Gatehouse's broker sees it.

One database per environment, separate from the console database and not managed by Alembic:
`schema` declares its tables (the shape the production application writes);
`access.ops.generate_customers` fills a demo database with realistic, deterministic data whose
sensitive columns are sealed with each customer's data key (`access.data.envelope`). Nothing
here reads data on anyone's behalf; that is the broker's job, under a grant.
"""

__all__ = ["schema"]
