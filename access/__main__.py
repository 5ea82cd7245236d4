"""`python -m access`: database setup and operator commands."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from sqlalchemy.engine import make_url

from access.data.envelope import create_master_key_file, master_key_path
from access.data.retention import purge, retention_from_env
from access.data.sources import generate_demo_databases
from access.data.subject_index import BLIND_INDEX_KEY, create_blind_index_key_file
from access.errors import GatehouseError
from access.identity.mfa import demo_code
from access.ops import dsr_cli, transparency_cli
from access.ops.demo import seed_demo
from access.ops.migrate import upgrade
from access.ops.pg_roles import RolePlan, create_all_roles
from access.reviews import cli as review_cli
from access.runtime import build_for_cli, create_mfa_key, mfa_key_path
from access.workflow import notify, sweep
from audit.settings import data_dir, database_url


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except GatehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m access", description=__doc__)
    parser.add_argument("--issuer", default=f"http://localhost:"
                                            f"{os.environ.get('GATEHOUSE_IDP_PORT', '9400')}",
                        help="the demo identity provider's issuer (seed-demo, demo-code)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply schema migrations (GATEHOUSE_MIGRATION_URL, else "
                                   "GATEHOUSE_DATABASE_URL)").set_defaults(run=_migrate)
    roles = sub.add_parser("db-roles", help="create the PostgreSQL owner, app and sealer roles")
    roles.add_argument("--admin-url", required=True, help="a superuser URL on the server")
    roles.add_argument("--database", default="gatehouse")
    roles.add_argument("--owner", default="gatehouse_owner")
    roles.add_argument("--app", default="gatehouse_app")
    roles.add_argument("--sealer", default="gatehouse_sealer")
    roles.set_defaults(run=_db_roles)
    sub.add_parser("keygen", help="create the MFA, master and blind-index key files if absent"
                   ).set_defaults(run=_keygen)
    purging = sub.add_parser("purge", help="purge customers past the retention period "
                                         "(GATEHOUSE_RETENTION_DAYS, default 60)")
    mode = purging.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="list, change nothing")
    mode.add_argument("--execute", action="store_true", help="delete and destroy keys")
    purging.add_argument("--environment", default="production")
    purging.set_defaults(run=_purge)
    code = sub.add_parser("demo-code", help="print the current TOTP code of a demo persona "
                                            "(local demo identity provider only)")
    code.add_argument("persona", help="the persona's subject, e.g. sam.support")
    code.set_defaults(run=_demo_code)
    sub.add_parser("generate-customers", help="fill empty demo customer databases (every "
                                              "environment of the policy)"
                   ).set_defaults(run=_generate_customers)
    sub.add_parser("seed-demo", help="seed the demo history (only into an empty database)"
                   ).set_defaults(run=_seed_demo)
    sub.add_parser("sweep", help="one pass: expire stale requests, record grant expiries, "
                                 "deliver webhooks").set_defaults(run=_sweep)
    dsr_cli.add_parser(sub)
    sub.choices["dsr"].set_defaults(run=_dsr)
    review_cli.add_parser(sub)
    transparency_cli.add_parser(sub)
    sub.choices["transparency-report"].set_defaults(run=_transparency_report)
    work = sub.add_parser("worker", help="sweep continuously until interrupted")
    work.add_argument("--interval", type=float, default=10.0)
    work.set_defaults(run=_worker)
    return parser


def _migrate(_args: argparse.Namespace) -> None:
    url = os.environ.get("GATEHOUSE_MIGRATION_URL") or database_url()
    if url.startswith("sqlite"):
        data_dir().mkdir(parents=True, exist_ok=True)
    upgrade(url)
    print("database is at the newest schema")


def _keygen(_args: argparse.Namespace) -> None:
    created = create_mfa_key()
    print(f"created {created}" if created else f"MFA key exists: {mfa_key_path()}")
    master = create_master_key_file()
    print(f"created {master}" if master else f"master key exists: {master_key_path()}")
    index = create_blind_index_key_file()
    print(f"created {index}" if index else f"blind-index key exists: {BLIND_INDEX_KEY.path()}")


def _demo_code(args: argparse.Namespace) -> None:
    print(demo_code(build_for_cli(), args.issuer, args.persona))


def _generate_customers(_args: argparse.Namespace) -> None:
    gh = build_for_cli()
    print("\n".join(generate_demo_databases(gh.data, gh.now())) or
          "customer databases already hold data")


def _seed_demo(args: argparse.Namespace) -> None:
    print(seed_demo(build_for_cli(), args.issuer))


def _sweep(_args: argparse.Namespace) -> None:
    print(sweep.sweep(build_for_cli(), notify.webhook_url_from_env()))


def _dsr(args: argparse.Namespace) -> None:
    print(dsr_cli.run(build_for_cli(), args))


def _transparency_report(args: argparse.Namespace) -> None:
    print(transparency_cli.run(build_for_cli(), args))


def _worker(args: argparse.Namespace) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"worker running every {args.interval}s", flush=True)
    sweep.run(build_for_cli(), stop, args.interval)


def _db_roles(args: argparse.Namespace) -> None:
    plan = RolePlan(args.database, args.owner, args.app,
                    os.environ.get("GATEHOUSE_OWNER_PASSWORD"),
                    os.environ.get("GATEHOUSE_APP_PASSWORD"), args.sealer,
                    os.environ.get("GATEHOUSE_SEALER_PASSWORD"))
    urls = create_all_roles(args.admin_url, plan)
    for name, url in (("GATEHOUSE_MIGRATION_URL", urls.owner),
                      ("GATEHOUSE_DATABASE_URL", urls.app),
                      ("GATEHOUSE_SEALER_DATABASE_URL", urls.sealer or "")):
        print(f"{name}={make_url(url).render_as_string(hide_password=True)}")
    # migrate with both role names set, so migration 0007 gives the tree to the sealer
    print(f"GATEHOUSE_APP_ROLE={args.app}")
    print(f"GATEHOUSE_SEALER_ROLE={args.sealer}")


def _purge(args: argparse.Namespace) -> None:
    environment, execute = args.environment, args.execute
    done = purge(build_for_cli(), environment, execute, retention_from_env())
    verb = "purged" if execute else "due for purge"
    for c in done:
        print(f"{verb}: {c.customer_id} (ended {c.terminated_at:%Y-%m-%d}), "
              f"{sum(c.rows.values())} rows")
    print(f"{len(done)} customer(s) {verb} in {environment}")


if __name__ == "__main__":
    sys.exit(main())
