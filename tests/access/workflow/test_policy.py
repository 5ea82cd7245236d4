"""The access policy loads as written, combines strictly, and refuses every mistake by name.

The invariant under test above all: production customer data always needs a human approver.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta
from pathlib import Path

import pytest

import access.workflow.policy
from access.errors import InvalidInput
from access.principal import Role
from access.workflow.policy import (
    DEFAULT_PATH,
    DEFAULT_SCOPES,
    DataAction,
    Policy,
    Requirements,
    duration,
    load_policy,
)

INVARIANT = "production customer data needs at least one human approver"
BREAKGLASS_EXPORT = "must not include export: break-glass skips the approvers an export needs"

# A small valid policy; every broken case below is one edit of it. Staging allows fewer
# actions than production so that edits can target either environment unambiguously.
BASE = """\
# policy v1
[requests]
ticket_pattern = '^(SUP|INC)-[0-9]{1,8}$'
ticket_examples = ["SUP-1234", "INC-1234"]
justification_max = 1000
pending_ttl = "24h"

[environments.production]
customer_data = true
ticket_required = true
breakglass_per_day = 2
breakglass_one_open = true

[environments.staging]
customer_data = false
ticket_required = false
breakglass_per_day = 0
breakglass_one_open = true

[rules.production]
request_roles = ["requester", "approver"]
actions = ["read", "reveal", "export"]
max_duration = "8h"
approvals = 1
export_approvals = 2
breakglass = true
breakglass_duration = "1h"
breakglass_actions = ["reveal", "read"]

[rules.production.scopes.billing]
request_roles = ["requester"]
max_duration = "4h"
approvals = 2
export_approvals = 3
breakglass_duration = "30m"

[rules.production.scopes.contacts]
breakglass = false

[rules.staging]
request_roles = ["requester"]
actions = ["read", "reveal"]
max_duration = "24h"
approvals = 1
export_approvals = 1
breakglass = false
breakglass_duration = "1h"
breakglass_actions = ["read"]

[rules.staging.scopes.telemetry]
actions = ["read"]
"""

BILLING = '[rules.production.scopes.billing]\nrequest_roles = ["requester"]\n'
STAGING_COUNTS = "approvals = 1\nexport_approvals = 1\n"


def edited(old: str, new: str) -> str:
    """BASE with one unambiguous edit; fails loudly if the edit no longer applies."""
    assert BASE.count(old) == 1, f"edit target {old!r} must occur exactly once in BASE"
    return BASE.replace(old, new)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def base_policy(tmp_path: Path) -> Policy:
    return load_policy(write(tmp_path, BASE))


# ---------------------------------------------------------------------------- the shipped file

def test_the_shipped_policy_loads_with_a_rule_for_every_environment_and_scope() -> None:
    policy = load_policy(DEFAULT_PATH)
    assert set(policy.environments) == {"production", "staging"}
    assert policy.environments["production"].customer_data
    assert policy.environments["production"].ticket_required
    assert not policy.environments["staging"].customer_data
    assert set(policy.rules) == set(itertools.product(policy.environments, DEFAULT_SCOPES))
    assert policy.source == str(DEFAULT_PATH)
    assert policy.justification_max == 1000
    assert policy.pending_ttl == timedelta(hours=24)
    assert policy.ticket_pattern.fullmatch("SUP-1234")
    assert policy.ticket_examples == ("SUP-1234", "INC-1234")
    assert policy.ticket_pattern.fullmatch("INC-1")
    assert not policy.ticket_pattern.fullmatch("SUP-")
    assert not policy.ticket_pattern.fullmatch("JIRA-12")


def test_shipped_production_billing_needs_two_approvers_and_at_most_four_hours() -> None:
    needs = load_policy(DEFAULT_PATH).requirements("production", ["billing"], ["read"])
    assert needs == Requirements(approvals=2, max_duration=timedelta(hours=4),
                                 request_roles=frozenset({Role.REQUESTER}), breakglass=True,
                                 breakglass_duration=timedelta(hours=1),
                                 breakglass_actions=frozenset({DataAction.READ}))


def test_shipped_production_export_needs_export_approvals() -> None:
    policy = load_policy(DEFAULT_PATH)
    assert policy.requirements("production", ["account"], ["read", "reveal"]).approvals == 1
    assert policy.requirements("production", ["account"], ["read", "export"]).approvals == 2
    assert policy.requirements("production", ["account"], ["read"]).max_duration == \
        timedelta(hours=8)


def test_shipped_staging_needs_one_approver_and_allows_a_day() -> None:
    needs = load_policy(DEFAULT_PATH).requirements("staging", ["account"], ["export"])
    assert needs.approvals == 1
    assert needs.max_duration == timedelta(hours=24)
    assert needs.breakglass is False


def test_the_shipped_break_glass_reads_only_once_a_day_and_never_twice_unreviewed() -> None:
    policy = load_policy(DEFAULT_PATH)
    production = policy.environments["production"]
    assert (production.breakglass_per_day, production.breakglass_one_open) == (1, True)
    for environment, scope in policy.rules:
        assert policy.rule(environment, scope).breakglass_actions == {DataAction.READ}


def test_every_shipped_production_rule_has_a_human_approver() -> None:
    policy = load_policy(DEFAULT_PATH)
    for scope in DEFAULT_SCOPES:
        rule = policy.rule("production", scope)
        assert rule.approvals >= 1 and rule.export_approvals >= 1


def test_the_default_path_is_the_shipped_file_unless_gatehouse_policy_says_otherwise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEHOUSE_POLICY", raising=False)
    assert load_policy().source == str(DEFAULT_PATH)
    path = write(tmp_path, BASE)
    monkeypatch.setenv("GATEHOUSE_POLICY", str(path))
    assert load_policy().source == str(path)


# ------------------------------------------------------------------- rules and their combination

def test_a_scope_override_changes_only_the_keys_it_sets(tmp_path: Path) -> None:
    policy = base_policy(tmp_path)
    billing, account = policy.rule("production", "billing"), policy.rule("production", "account")
    assert (billing.approvals, billing.export_approvals) == (2, 3)
    assert billing.max_duration == timedelta(hours=4)
    assert billing.actions == account.actions == frozenset(DataAction)
    assert billing.breakglass is True
    assert account.request_roles == {Role.REQUESTER, Role.APPROVER}
    assert (account.approvals, account.export_approvals) == (1, 2)


def test_combining_scopes_takes_the_strictest_of_each_rule(tmp_path: Path) -> None:
    policy = base_policy(tmp_path)
    needs = policy.requirements("production", ["account", "billing", "contacts"], ["read"])
    assert needs == Requirements(
        approvals=2,                                    # billing's, the most
        max_duration=timedelta(hours=4),                # billing's, the shortest
        request_roles=frozenset({Role.REQUESTER}),      # only the role every scope allows
        breakglass=False,                               # contacts refuses it
        breakglass_duration=timedelta(minutes=30),      # billing's, the shortest
        breakglass_actions=frozenset({DataAction.READ, DataAction.REVEAL}))


def test_asking_to_export_raises_approvals_to_the_strictest_export_approvals(
        tmp_path: Path) -> None:
    policy = base_policy(tmp_path)
    assert policy.requirements("production", ["account"], [DataAction.EXPORT]).approvals == 2
    assert policy.requirements("production", ["account", "billing"],
                               ["read", DataAction.EXPORT]).approvals == 3


def test_staging_may_need_no_approver_because_it_holds_no_customer_data(tmp_path: Path) -> None:
    text = edited(STAGING_COUNTS, "approvals = 0\nexport_approvals = 0\n")
    policy = load_policy(write(tmp_path, text))
    assert policy.requirements("staging", ["account"], ["read"]).approvals == 0
    assert policy.requirements("production", ["account"], ["read"]).approvals == 1


def test_known_scopes_decide_which_scopes_get_rules(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, BASE),
                         known_scopes=("account", "billing", "contacts", "telemetry", "cases"))
    assert policy.scopes == ("account", "billing", "contacts", "telemetry", "cases")
    assert policy.rule("production", "cases") == policy.rule("production", "account")


# --------------------------------------------------------------------------------- the version

def test_the_version_is_the_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert load_policy(path).version == hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_policy(path).version == load_policy(path).version


@pytest.mark.parametrize(("old", "new"), [
    ("# policy v1", "# policy v2"),                  # a comment is part of the version too
    ('pending_ttl = "24h"', 'pending_ttl = "25h"'),
])
def test_changing_one_byte_changes_the_version(tmp_path: Path, old: str, new: str) -> None:
    before = base_policy(tmp_path).version
    after = load_policy(write(tmp_path, edited(old, new))).version
    assert len(old) == len(new) and before != after


# ------------------------------------------------------------------------- refused policy files

REFUSED = [
    # The invariant, wherever a count could drop below one in production.
    pytest.param("approvals = 1\nexport_approvals = 2", "approvals = 0\nexport_approvals = 2",
                 "rules.production.approvals", INVARIANT, id="production-default-approvals-0"),
    pytest.param("max_duration = \"4h\"\napprovals = 2", "max_duration = \"4h\"\napprovals = 0",
                 "rules.production.scopes.billing.approvals", INVARIANT,
                 id="production-scope-approvals-0"),
    pytest.param("export_approvals = 2", "export_approvals = 0",
                 "rules.production.export_approvals", INVARIANT,
                 id="production-export-approvals-0"),
    pytest.param("export_approvals = 3", "export_approvals = 0",
                 "rules.production.scopes.billing.export_approvals", INVARIANT,
                 id="production-scope-export-approvals-0"),
    pytest.param("[rules.production.scopes.contacts]\n",
                 "[rules.production.scopes.contacts]\napprovals = 0\nexport_approvals = 0\n",
                 "rules.production.scopes.contacts.approvals", INVARIANT,
                 id="production-scope-both-0"),
    # Unknown names.
    pytest.param("pending_ttl", "pending_tll", "requests.pending_tll", "is not a known key",
                 id="unknown-key"),
    pytest.param("max_duration = \"4h\"", "max_duraton = \"4h\"",
                 "rules.production.scopes.billing.max_duraton", "is not a known key",
                 id="unknown-key-in-scope-override"),
    pytest.param("customer_data = true", "customer_data = true\ncustomer = true",
                 "environments.production.customer", "is not a known key",
                 id="unknown-key-in-environment"),
    pytest.param("[requests]", "[request]", "request", "is not a known key",
                 id="unknown-section"),
    pytest.param("[rules.production.scopes.billing]", "[rules.production.scopes.biling]",
                 "rules.production.scopes.biling", "is not a known scope", id="unknown-scope"),
    pytest.param('request_roles = ["requester", "approver"]',
                 'request_roles = ["requester", "admin"]',
                 "rules.production.request_roles", "'admin' is not one of", id="unknown-role"),
    pytest.param('request_roles = ["requester", "approver"]',
                 'request_roles = ["auditor"]',
                 "rules.production.request_roles", "auditors are read-only",
                 id="auditor-may-not-request"),
    pytest.param('actions = ["read", "reveal"]', 'actions = ["read", "delete"]',
                 "rules.staging.actions", "'delete' is not one of", id="unknown-action"),
    pytest.param('actions = ["read", "reveal"]', 'actions = "read"',
                 "rules.staging.actions", "must be a list", id="actions-not-a-list"),
    # Durations.
    pytest.param('max_duration = "8h"', 'max_duration = "8 hours"',
                 "rules.production.max_duration", "must be a duration like 30m, 8h or 2d",
                 id="duration-8-hours"),
    pytest.param('max_duration = "24h"', 'max_duration = "0h"',
                 "rules.staging.max_duration", "must be a duration like 30m, 8h or 2d",
                 id="duration-0h"),
    pytest.param('pending_ttl = "24h"', "pending_ttl = 24",
                 "requests.pending_ttl", "must be a duration like 30m, 8h or 2d",
                 id="duration-not-a-string"),
    pytest.param('max_duration = "8h"', 'max_duration = "31d"',
                 "rules.production.max_duration", "must be from 1s to 30d",
                 id="max-duration-over-30d"),
    pytest.param('pending_ttl = "24h"', 'pending_ttl = "30s"',
                 "requests.pending_ttl", "must be from 1m to 30d", id="pending-ttl-under-1m"),
    pytest.param('pending_ttl = "24h"', 'pending_ttl = "31d"',
                 "requests.pending_ttl", "must be from 1m to 30d", id="pending-ttl-over-30d"),
    pytest.param('breakglass_duration = "30m"', 'breakglass_duration = "5h"',
                 "rules.production.scopes.billing.breakglass_duration",
                 "must not exceed max_duration", id="breakglass-longer-than-a-grant"),
    # Break-glass: never export where export needs an approver, never beyond the actions.
    pytest.param('breakglass_actions = ["reveal", "read"]',
                 'breakglass_actions = ["read", "export"]',
                 "rules.production.breakglass_actions", BREAKGLASS_EXPORT,
                 id="breakglass-may-not-export-production-data"),
    pytest.param("[rules.production.scopes.contacts]\n",
                 '[rules.production.scopes.contacts]\nbreakglass_actions = ["export"]\n',
                 "rules.production.scopes.contacts.breakglass_actions", BREAKGLASS_EXPORT,
                 id="breakglass-export-in-a-scope-override"),
    pytest.param('breakglass = false\nbreakglass_duration = "1h"\nbreakglass_actions = ["read"]',
                 'breakglass = true\nbreakglass_duration = "1h"\nbreakglass_actions = ["export"]',
                 "rules.staging.breakglass_actions", "must not include export",
                 id="breakglass-export-where-export-needs-an-approver"),
    pytest.param('breakglass = false\nbreakglass_duration = "1h"\nbreakglass_actions = ["read"]',
                 'breakglass = false\nbreakglass_duration = "1h"\n'
                 'breakglass_actions = ["reveal"]',
                 "rules.staging.scopes.telemetry.breakglass_actions", "must be drawn from actions",
                 id="breakglass-beyond-the-actions"),
    pytest.param('breakglass_actions = ["reveal", "read"]', "breakglass_actions = []",
                 "rules.production.breakglass_actions", "at least one action",
                 id="breakglass-with-no-action"),
    pytest.param("breakglass_per_day = 2", "breakglass_per_day = 21",
                 "environments.production.breakglass_per_day", "from 0 to 20",
                 id="breakglass-per-day-too-many"),
    pytest.param("breakglass_per_day = 2\nbreakglass_one_open = true\n",
                 "breakglass_per_day = 2\n", "environments.production.breakglass_one_open",
                 "is required", id="breakglass-one-open-has-no-default"),
    # Counts.
    pytest.param(STAGING_COUNTS, "approvals = -1\nexport_approvals = 1\n",
                 "rules.staging.approvals", "must be a whole number from 0 to 10",
                 id="negative-count"),
    pytest.param(STAGING_COUNTS, "approvals = 1.5\nexport_approvals = 2\n",
                 "rules.staging.approvals", "must be a whole number from 0 to 10",
                 id="fractional-count"),
    pytest.param(STAGING_COUNTS, "approvals = true\nexport_approvals = 1\n",
                 "rules.staging.approvals", "must be a whole number from 0 to 10",
                 id="boolean-count"),
    pytest.param(STAGING_COUNTS, 'approvals = "1"\nexport_approvals = 1\n',
                 "rules.staging.approvals", "must be a whole number from 0 to 10",
                 id="string-count"),
    pytest.param(STAGING_COUNTS, "approvals = 2\nexport_approvals = 1\n",
                 "rules.staging.export_approvals", "must be at least approvals (2)",
                 id="export-approvals-below-approvals"),
    pytest.param("max_duration = \"4h\"\napprovals = 2", "max_duration = \"4h\"\napprovals = 4",
                 "rules.production.scopes.billing.export_approvals",
                 "must be at least approvals (4)", id="scope-approvals-above-export-approvals"),
    pytest.param("justification_max = 1000", "justification_max = 9",
                 "requests.justification_max", "from 10 to 10000", id="justification-max-low"),
    pytest.param("justification_max = 1000", "justification_max = 10001",
                 "requests.justification_max", "from 10 to 10000", id="justification-max-high"),
    pytest.param("customer_data = true", 'customer_data = "yes"',
                 "environments.production.customer_data", "must be true or false",
                 id="flag-not-a-boolean"),
    # The ticket pattern.
    pytest.param("'^(SUP|INC)-[0-9]{1,8}$'", "'^(SUP|INC-[0-9]{1,8}$'",
                 "requests.ticket_pattern", "must be a valid regular expression",
                 id="bad-regex"),
    pytest.param("'^(SUP|INC)-[0-9]{1,8}$'", "'.*'",
                 "requests.ticket_pattern", "must not accept an empty ticket reference",
                 id="regex-accepts-no-ticket"),
    # What people are shown instead of the pattern: tickets it accepts.
    pytest.param('["SUP-1234", "INC-1234"]', '["SUP-1234", "JIRA-12"]',
                 "requests.ticket_examples", "'JIRA-12' does not match ticket_pattern",
                 id="example-the-pattern-refuses"),
    pytest.param('["SUP-1234", "INC-1234"]', "[]",
                 "requests.ticket_examples", "must be a list of 1 to 5 ticket references",
                 id="no-example"),
    pytest.param('ticket_examples = ["SUP-1234", "INC-1234"]\n', "",
                 "requests.ticket_examples", "is required", id="examples-missing"),
    # Completeness: every declared environment has rules, every rule has every key.
    pytest.param("[rules.production]",
                 "[environments.dev]\ncustomer_data = false\nticket_required = false\n"
                 "breakglass_per_day = 0\nbreakglass_one_open = true\n\n"
                 "[rules.production]",
                 "rules.dev", "every environment needs its rules", id="environment-without-rules"),
    pytest.param("[rules.staging.scopes.telemetry]",
                 "[rules.qa]\napprovals = 1\n\n[rules.staging.scopes.telemetry]",
                 "rules.qa", "is not a declared environment", id="rules-for-undeclared-env"),
    pytest.param("breakglass = false\nbreakglass_duration", "breakglass_duration",
                 "rules.staging.breakglass", "is required", id="missing-rule-key"),
    pytest.param("justification_max = 1000\n", "", "requests.justification_max",
                 "is required", id="missing-request-key"),
    # Syntax: only the file can be named.
    pytest.param("approvals = 1\nexport_approvals = 2", "approvals = = 1\nexport_approvals = 2",
                 "", "cannot be read as TOML", id="bad-toml"),
]


def test_the_base_policy_used_by_the_refusal_matrix_is_valid(tmp_path: Path) -> None:
    assert set(base_policy(tmp_path).rules) == set(
        itertools.product(("production", "staging"), DEFAULT_SCOPES))


@pytest.mark.parametrize(("old", "new", "key", "rule"), REFUSED)
def test_a_broken_policy_is_refused_naming_file_key_and_rule(
        tmp_path: Path, old: str, new: str, key: str, rule: str) -> None:
    path = write(tmp_path, edited(old, new))
    with pytest.raises(InvalidInput) as caught:
        load_policy(path)
    assert caught.value.field == (f"{path}: {key}" if key else str(path))
    assert rule in caught.value.rule
    assert str(path) in str(caught.value) and rule in str(caught.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(InvalidInput, match="cannot be read as TOML") as caught:
        load_policy(path)
    assert caught.value.field == str(path)


# ------------------------------------------------------------------------ bad requests for rules

@pytest.mark.parametrize(("environment", "scopes", "actions", "field", "rule"), [
    ("prod", ["account"], ["read"], "environment", "'prod' is not a known environment"),
    ("production", [], ["read"], "scopes", "choose at least one scope"),
    ("production", "billing", ["read"], "scopes", "must be a list of scopes"),
    ("production", ["billing", "account", "billing"], ["read"], "scopes",
     "must not repeat a scope: billing"),
    ("production", ["account", "bills"], ["read"], "scopes", "'bills' is not a known scope"),
    ("production", ["account"], [], "actions", "choose at least one action"),
    ("production", ["account"], ["read", "delete"], "actions", "'delete' is not one of"),
    ("staging", ["account"], ["export"], "actions",
     "export is not allowed for scope account in staging"),
    ("staging", ["account", "telemetry"], ["read", "reveal"], "actions",
     "reveal is not allowed for scope telemetry in staging"),
])
def test_requirements_refuse_a_bad_request_naming_the_field(
        tmp_path: Path, environment: str, scopes: list[str], actions: list[str], field: str,
        rule: str) -> None:
    policy = base_policy(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        policy.requirements(environment, scopes, actions)
    assert caught.value.field == field
    assert rule in caught.value.rule


def test_rule_refuses_an_unknown_environment_or_scope(tmp_path: Path) -> None:
    policy = base_policy(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        policy.rule("prod", "account")
    assert caught.value.field == "environment"
    with pytest.raises(InvalidInput) as caught:
        policy.rule("production", "bills")
    assert caught.value.field == "scopes"


# ------------------------------------------------------------------------------------ durations

@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)),
    ("30m", timedelta(minutes=30)),
    ("8h", timedelta(hours=8)),
    ("2d", timedelta(days=2)),
])
def test_duration_reads_a_whole_number_and_one_unit(text: str, expected: timedelta) -> None:
    assert duration(text, "max_duration") == expected


@pytest.mark.parametrize("text", ["8 hours", "0h", "-1h", "1.5h", "8H", "8", "h", "", "08h",
                                  " 8h", "8h\n", "1h30m", "9999999999d"])
def test_duration_refuses_anything_else_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        duration(text, "max_duration")
    assert caught.value.field == "max_duration"
    assert caught.value.rule == "must be a duration like 30m, 8h or 2d"


def test_the_public_surface_is_pinned() -> None:
    assert sorted(access.workflow.policy.__all__) == sorted([
        "DEFAULT_PATH", "DEFAULT_SCOPES", "DataAction", "Environment", "Policy", "Requirements",
        "ScopeRule", "check_policy_data", "duration", "human_duration", "load_policy",
        "policy_path"])
    assert DEFAULT_SCOPES == ("account", "contacts", "subscriptions", "billing", "telemetry",
                              "devices", "bot_runs")
    assert [a.value for a in DataAction] == ["read", "reveal", "export"]
