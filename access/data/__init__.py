"""Production customer data, served only under a live grant: the `broker` (check, read,
mask, audit in one transaction), the `catalog` (scopes, tables, classifications), `envelope`
encryption (per-customer keys under a master key), the customer databases (`sources`,
`customer_db/`), whether a customer may be served at all (`servable`), restriction of
processing (`restrictions`), the 60-day purge (`retention`) and the keyed blind index of
contact emails that finds a data subject (`subject_index`).
"""

__all__ = [
    "broker", "catalog", "customer_db", "envelope", "masks", "restrictions", "retention",
    "servable", "sources", "subject_index",
]
