"""Data-subject requests (GDPR Art. 15-21, CCPA), worked by the privacy officer: the request
and its clock (`requests`, `clock`), who works it (`assignment`), the subject's rows in the
customer data (`subject`), the access package (`package`), the other rights (`rights`), the
per-subject restriction the broker enforces (`holds`) and the webhook reminder before a
request falls due (`reminders`).
"""

__all__ = ["assignment", "clock", "holds", "package", "reminders", "requests", "rights",
           "subject"]
