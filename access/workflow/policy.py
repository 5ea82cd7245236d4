"""Policy as code: who may ask for which customer data, where, for how long, approved by how many.

Contract: `load_policy` returns a complete `Policy` (a rule for every environment × scope pair)
or raises `InvalidInput` whose field names the file and the dotted key, and whose rule says what
is wrong. Nothing has a default: a missing or misspelt key in a security setting is an error,
never a silent fallback. `version` is the SHA-256 of the file's bytes, recorded on every decision
so an auditor can tell which rules were in force.

The invariant this file exists to hold: production customer data (`customer_data = true`)
always needs at least one human approver. Break-glass is the only exception, and it is held in
by the policy too: the actions a break-glass grant may carry (`breakglass_actions`, never
export where export needs an approver, so never export of production data), its length
(`breakglass_duration`), how many one person may open a day (`breakglass_per_day`) and whether
an unreviewed one blocks the next (`breakglass_one_open`). The workflow pairs every break-glass
with a mandatory review.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from access.bounded import known_list
from access.errors import InvalidInput
from access.principal import Role
from access.settings.toml import Table, read_toml
from access.text import as_logged
from audit.settings import PROJECT_ROOT

__all__ = ["DEFAULT_PATH", "DEFAULT_SCOPES", "DataAction", "Environment", "Policy",
           "Requirements", "ScopeRule", "check_policy_data", "duration", "human_duration",
           "load_policy",
           "policy_path"]

DEFAULT_PATH = PROJECT_ROOT / "config" / "policy.toml"
DEFAULT_SCOPES: tuple[str, ...] = (
    "account", "contacts", "subscriptions", "billing", "telemetry", "devices", "bot_runs")


class DataAction(StrEnum):
    READ = "read"      # see records, sensitive fields masked
    REVEAL = "reveal"  # unmask a sensitive field
    EXPORT = "export"  # take data out of the console


@dataclass(frozen=True)
class Environment:
    name: str
    customer_data: bool    # holds production customer data: the approver invariant applies
    ticket_required: bool  # requests here must cite a ticket matching `ticket_pattern`
    breakglass_per_day: int    # break-glass grants one person may open in any 24 hours here
    breakglass_one_open: bool  # an unreviewed break-glass here blocks the holder's next one


@dataclass(frozen=True)
class ScopeRule:
    request_roles: frozenset[Role]
    actions: frozenset[DataAction]
    max_duration: timedelta
    approvals: int         # distinct human approvers needed
    export_approvals: int  # approvals needed when EXPORT is requested (>= approvals)
    breakglass: bool
    breakglass_duration: timedelta
    breakglass_actions: frozenset[DataAction]  # what a break-glass grant here may carry


@dataclass(frozen=True)
class Requirements:
    """What one request for (environment, scopes, actions) needs: the strictest of its rules."""
    approvals: int
    max_duration: timedelta
    request_roles: frozenset[Role]
    breakglass: bool
    breakglass_duration: timedelta
    breakglass_actions: frozenset[DataAction]  # what a break-glass grant may carry


@dataclass(frozen=True)
class Policy:
    version: str
    source: str
    environments: dict[str, Environment]
    scopes: tuple[str, ...]
    rules: dict[tuple[str, str], ScopeRule]  # complete: every (environment, scope) pair
    ticket_pattern: re.Pattern[str]          # a ticket must match it whole (`fullmatch`)
    ticket_examples: tuple[str, ...]         # what a person reads: tickets that match it
    justification_max: int
    pending_ttl: timedelta

    def rule(self, environment: str, scope: str) -> ScopeRule:
        """The rule for one pair; `InvalidInput` on field "environment" or "scopes" if unknown."""
        if environment not in self.environments:
            raise InvalidInput("environment", f"{environment!r} is not a known environment")
        if scope not in self.scopes:
            raise InvalidInput("scopes", f"{scope!r} is not a known scope")
        return self.rules[(environment, scope)]

    def requirements(self, environment: str, scopes: Sequence[str],
                     actions: Sequence[DataAction | str]) -> Requirements:
        """Combine the rules of every requested scope, taking the strictest value of each.

        Raises `InvalidInput` naming "environment", "scopes" or "actions" when the environment is
        unknown, the scopes are empty, repeated or unknown, or the actions are empty, unknown or
        not allowed for one of the scopes (the rule names that scope).
        """
        if not isinstance(environment, str) or environment not in self.environments:
            raise InvalidInput("environment", f"{as_logged(repr(environment), 60)} is not a "
                                              "known environment")
        rules = {scope: self.rule(environment, scope)
                 for scope in known_list("scopes", scopes, self.scopes, "scope")}
        wanted = _actions(actions)
        for scope, rule in rules.items():
            refused = sorted(wanted - rule.actions)
            if refused:
                raise InvalidInput("actions", f"{refused[0]} is not allowed for scope {scope} "
                                              f"in {environment}")
        exporting = DataAction.EXPORT in wanted
        chosen = rules.values()
        return Requirements(
            approvals=max(r.export_approvals if exporting else r.approvals for r in chosen),
            max_duration=min(r.max_duration for r in chosen),
            request_roles=frozenset.intersection(*(r.request_roles for r in chosen)),
            breakglass=all(r.breakglass for r in chosen),
            breakglass_duration=min(r.breakglass_duration for r in chosen),
            breakglass_actions=frozenset.intersection(*(r.breakglass_actions for r in chosen)))


def _actions(actions: Sequence[DataAction | str]) -> frozenset[DataAction]:
    values = [a.value for a in DataAction]
    return frozenset(DataAction(a) for a in known_list(
        "actions", actions, values, "action", f"is not one of {', '.join(values)}"))


_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhd])")  # 9 digits keep timedelta from overflowing
_UNIT = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1),
         "d": timedelta(days=1)}


def duration(text: str, field: str) -> timedelta:
    """Parse "90s", "30m", "8h" or "2d": a whole positive number and one unit, nothing else.
    Raises `InvalidInput(field, ...)` otherwise, including for a value that is not a string."""
    found = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(field, "must be a duration like 30m, 8h or 2d")
    return int(found[1]) * _UNIT[found[2]]


_SPOKEN_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def human_duration(span: timedelta, parts: int = 2) -> str:
    """`span` in its `parts` largest non-zero units, rounded down to the smallest shown:
    "1 h 30 min", "15 min", "45 s"; "0 s" for nothing; "-5 min" for a negative span."""
    seconds = int(span.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    shown: list[str] = []
    for unit, size in _SPOKEN_UNITS:
        if seconds >= size and len(shown) < parts:
            shown.append(f"{seconds // size} {unit}")
            seconds %= size
        elif shown:  # a gap ends the phrase: "1 d 30 s" would read oddly
            break
    return sign + (" ".join(shown) or "0 s")


def policy_path() -> Path:
    """`GATEHOUSE_POLICY`, else the shipped `config/policy.toml`."""
    return Path(os.environ.get("GATEHOUSE_POLICY") or DEFAULT_PATH)


_TOP_KEYS = frozenset({"requests", "environments", "rules"})
_REQUEST_KEYS = frozenset({"ticket_pattern", "ticket_examples", "justification_max",
                           "pending_ttl"})
_ENVIRONMENT_KEYS = frozenset({"customer_data", "ticket_required", "breakglass_per_day",
                               "breakglass_one_open"})
_RULE_KEYS = frozenset({"request_roles", "actions", "max_duration", "approvals",
                        "export_approvals", "breakglass", "breakglass_duration",
                        "breakglass_actions"})
_MOST_BREAKGLASS_PER_DAY = 20  # an emergency a day is rare; 20 is a typo, not a policy
_MOST_APPROVERS = 10  # a sanity cap: with "a limited number of admins", a typo like 20
                      # would leave every request unapprovable


def load_policy(path: Path | None = None, known_scopes: Sequence[str] = DEFAULT_SCOPES) -> Policy:
    """Read and check a policy file (default `policy_path()`); see the module contract."""
    path = policy_path() if path is None else path
    raw, data = read_toml(path)
    return _policy(path, hashlib.sha256(raw).hexdigest(), data, known_scopes)


def check_policy_data(path: Path, data: dict[str, Any],
                      known_scopes: Sequence[str] = DEFAULT_SCOPES) -> Policy:
    """Every check of `load_policy` (the approver invariant first) on a policy's parsed TOML
    `data`, such as a proposed change to the file at `path`; raises `InvalidInput` the same
    way. Its `version` is "proposed": only a file's bytes have a version."""
    return _policy(path, "proposed", data, known_scopes)


def _policy(path: Path, version: str, data: dict[str, Any],
            known_scopes: Sequence[str]) -> Policy:
    top = Table(path, "", data, _TOP_KEYS, required=_TOP_KEYS)
    requests = top.table("requests", _REQUEST_KEYS, required=_REQUEST_KEYS)
    environments = _environments(top.table("environments"))
    scopes = tuple(known_scopes)
    ticket_pattern = _ticket_pattern(requests, "ticket_pattern")
    return Policy(
        version=version,
        source=str(path),
        environments=environments,
        scopes=scopes,
        rules=_rules(top.table("rules"), environments, scopes),
        ticket_pattern=ticket_pattern,
        ticket_examples=_ticket_examples(requests, "ticket_examples", ticket_pattern),
        justification_max=requests.whole("justification_max", 10, 10_000),
        pending_ttl=_span(requests, "pending_ttl", low="1m"))


def _environments(table: Table) -> dict[str, Environment]:
    if not table.data:
        raise table.error("", "must declare at least one environment")
    environments = {}
    for name in table.data:
        env = table.table(name, _ENVIRONMENT_KEYS, required=_ENVIRONMENT_KEYS)
        environments[name] = Environment(
            name, env.flag("customer_data"), env.flag("ticket_required"),
            breakglass_per_day=env.whole("breakglass_per_day", 0, _MOST_BREAKGLASS_PER_DAY),
            breakglass_one_open=env.flag("breakglass_one_open"))
    return environments


def _rules(table: Table, environments: dict[str, Environment],
           scopes: tuple[str, ...]) -> dict[tuple[str, str], ScopeRule]:
    undeclared = sorted(table.data.keys() - environments.keys())
    if undeclared:
        raise table.error(undeclared[0], "is not a declared environment: declare it under "
                                         "[environments] first")
    rules: dict[tuple[str, str], ScopeRule] = {}
    for env in environments.values():
        if env.name not in table.data:
            raise table.error(env.name, "is missing: every environment needs its rules")
        defaults = table.table(env.name, _RULE_KEYS | {"scopes"}, required=_RULE_KEYS)
        rules |= _environment_rules(env, defaults, scopes)
    return rules


def _environment_rules(env: Environment, defaults: Table,
                       scopes: tuple[str, ...]) -> dict[tuple[str, str], ScopeRule]:
    """One rule per scope: the environment's defaults with the scope's overrides on top."""
    overrides = defaults.table("scopes")
    unknown = sorted(overrides.data.keys() - set(scopes))
    if unknown:
        raise overrides.error(unknown[0], f"is not a known scope: one of {', '.join(scopes)}")
    # The defaults must hold on their own, so a scope added later inherits a valid rule. It
    # also means a bad value met in a merged rule came from the override, which is named.
    default_rule = _scope_rule(env, defaults)
    rules = {}
    for scope in scopes:
        rules[(env.name, scope)] = default_rule
        if scope in overrides.data:
            own = overrides.table(scope, _RULE_KEYS)
            merged = Table(own.path, own.key, defaults.data | own.data)
            rules[(env.name, scope)] = _scope_rule(env, merged)
    return rules


def _scope_rule(env: Environment, table: Table) -> ScopeRule:
    rule = ScopeRule(
        request_roles=table.members("request_roles", Role),
        actions=table.members("actions", DataAction),
        max_duration=_span(table, "max_duration"),
        approvals=table.whole("approvals", 0, _MOST_APPROVERS),
        export_approvals=table.whole("export_approvals", 0, _MOST_APPROVERS),
        breakglass=table.flag("breakglass"),
        breakglass_duration=_span(table, "breakglass_duration"),
        breakglass_actions=table.members("breakglass_actions", DataAction))
    _check_rule(env, rule, table)
    return rule


def _check_rule(env: Environment, rule: ScopeRule, table: Table) -> None:
    """Constraints between keys. The approver invariant is checked first: it matters most."""
    for key, count in (("approvals", rule.approvals), ("export_approvals", rule.export_approvals)):
        if env.customer_data and count < 1:
            raise table.error(key, "must be at least 1: production customer data needs at "
                              "least one human approver (break-glass is the only exception)")
    _check_breakglass(env, rule, table)
    if rule.export_approvals < rule.approvals:
        raise table.error("export_approvals", f"must be at least approvals ({rule.approvals})")
    if rule.breakglass_duration > rule.max_duration:
        raise table.error("breakglass_duration", "must not exceed max_duration: break-glass "
                          "skips approval, so it may not outlast an approved grant")
    if Role.AUDITOR in rule.request_roles:
        raise table.error("request_roles", "must not include auditor: auditors are read-only")


def _check_breakglass(env: Environment, rule: ScopeRule, table: Table) -> None:
    """Break-glass skips the approvers, so it may carry only what needs none of the approvers
    it would skip for export: never export where export needs an approver, which always holds
    for production customer data (the loader has just checked `export_approvals >= 1` there)."""
    if DataAction.EXPORT in rule.breakglass_actions and \
            (env.customer_data or rule.export_approvals > 0):
        raise table.error("breakglass_actions", "must not include export: break-glass skips "
                          "the approvers an export needs, so it could export production data")
    beyond = sorted(rule.breakglass_actions - rule.actions)
    if beyond:
        raise table.error("breakglass_actions", f"must be drawn from actions: {beyond[0]} is "
                          "not allowed here even with approvers")
    if rule.breakglass and not rule.breakglass_actions:
        raise table.error("breakglass_actions", "must name at least one action when "
                          "breakglass = true")


def _span(table: Table, name: str, low: str = "1s", high: str = "30d") -> timedelta:
    """A duration; no grant, and no request awaiting approval, may outlive a month."""
    value = duration(table.data[name], table.field(name))
    if not duration(low, "low") <= value <= duration(high, "high"):
        raise table.error(name, f"must be from {low} to {high}")
    return value


def _ticket_pattern(table: Table, name: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(table.data[name])
    except (re.error, TypeError) as exc:
        raise table.error(name, f"must be a valid regular expression: {exc}") from None
    # Otherwise `ticket_required` could be met by an empty ticket reference.
    if pattern.fullmatch(""):
        raise table.error(name, "must not accept an empty ticket reference")
    return pattern


_MOST_EXAMPLES = 5


def _ticket_examples(table: Table, name: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The tickets a refusal shows ("must look like SUP-1234 or INC-1234") instead of the
    pattern: each must match it, so the message can never contradict the rule."""
    examples = table.data[name]
    if not isinstance(examples, list) or not 1 <= len(examples) <= _MOST_EXAMPLES or \
            not all(isinstance(e, str) and 0 < len(e) <= 64 for e in examples):
        raise table.error(name, f"must be a list of 1 to {_MOST_EXAMPLES} ticket references")
    unmatched = [e for e in examples if not pattern.fullmatch(e)]
    if unmatched:
        raise table.error(name, f"{unmatched[0]!r} does not match ticket_pattern: every "
                          "example must be a ticket the policy accepts")
    return tuple(examples)
