"""Access reviews (issue 17): campaigns that recertify standing access — role holders,
break-glass and request rules — with evidence from the audit log, decisions by reviewers,
suspension of revoked roles, and an evidence pack an auditor verifies offline."""

__all__ = ["applying", "campaigns", "cancelling", "cli", "closing", "decisions", "evidence",
           "pack", "queries", "rules", "scope", "states", "suspensions"]
