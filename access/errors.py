"""The one family of domain errors. The console maps these to messages in one place."""

from __future__ import annotations


class GatehouseError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidInput(GatehouseError):
    """Input broke a rule. Names the field and the rule; nothing was changed."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class InvalidFields(InvalidInput):
    """Several fields of one form broke their rules: `problems` holds each, in form order, so
    a page can show every error next to its field at once. As an `InvalidInput` it names the
    first; its message names them all. Nothing was changed."""

    def __init__(self, problems: list[InvalidInput]) -> None:
        super().__init__(problems[0].field, problems[0].rule)
        self.problems = tuple(problems)
        self.args = ("; ".join(str(p) for p in problems),)


class Denied(GatehouseError):
    """The principal may not do this. The message says why, never how to get around it."""


class StepUpRequired(GatehouseError):
    """The action is allowed but needs a fresh TOTP code first: a prompt, not a refusal, so it
    is deliberately not a `Denied` (an `except Denied` never swallows it)."""


class Conflict(GatehouseError):
    """The thing changed under us (already decided, already used); retrying will not help."""


class AuthenticationFailed(GatehouseError):
    """Credentials (a token, a code) were rejected. The message never contains the credential.

    `attempts_left`: for a code counted against the account's limit of wrong codes, how many
    more wrong codes the account takes before it locks (0: this one locked it); None when
    nothing was counted (an ID token)."""

    def __init__(self, message: str, attempts_left: int | None = None) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class InvalidIdToken(AuthenticationFailed):
    """The ID token (or the provider data used to check it) was rejected.

    The message names the check that failed, such as "issuer mismatch" or "missing claim: sub",
    and never quotes the token (ASVS 16.2.5).
    """
