"""Gatehouse's domain and services: who may see which customer's data, when, and why.

Read it from the top down. The kernel sits here: `context` (the `Gatehouse` every service
takes first), `authz` (the one choke point), `errors`, `principal`, `schema` (the console
database's tables) and `runtime` (building the services from the environment). The rest is one
sub-package per part of the architecture:

- `identity/`: signing in (OIDC), sessions, TOTP and MFA, users;
- `workflow/`: the access policy and the request → approval → grant lifecycle, notifications;
- `data/`: customer data under a grant: the broker, catalog, envelope encryption, restriction,
  retention;
- `dsr`: data-subject requests (GDPR Art. 15-21, CCPA), worked by the privacy officer;
- `oversight`: the auditors' use cases over the log (search, export, verify, prove);
- `transparency`: staff consultations of a customer's data; `transparency_report` (with
  `transparency_html`): the customer's proved access-transparency report;
- `text`: what text may be stored and logged, and the reason rule;
- `bounded`: lists a person can send (scopes, actions, columns), checked against the known
  values before they are read;
- `reviews/`: access-review campaigns over standing access, with evidence from the log;
- `waiting`: what waits for a person now, per role, counted from the services above (Home);
- `keys/`, `settings/`: key files and configuration files;
- `ops/`: operator commands: migrations, PostgreSQL roles, the demo.

The console imports from here only; this package imports `audit`, never the console.
"""

__all__ = [
    "authz", "bounded", "context", "data", "dsr", "errors", "identity", "keys", "ops",
    "oversight", "principal", "reviews", "runtime", "schema", "settings", "text", "transparency",
    "transparency_html", "transparency_report", "waiting", "workflow",
]
