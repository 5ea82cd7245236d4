"""`python -m audit`: seal, verify, export and prove the audit log.

Exit codes: 0 success / intact; 1 verification failed or proof invalid; 2 usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from audit.bundle import export_bundle, verify_bundle
from audit.checkpoint import (
    CheckpointInvalid,
    fingerprint,
    generate_keypair,
    load_private_key,
    load_public_key,
)
from audit.database import verify_database
from audit.engine import make_engine
from audit.proof import NotSealed, inclusion_proof, proof_holds
from audit.proved import verify as verify_report
from audit.sealer import SealerBusy, TreeDamaged, run_sealer, seal_pending, sealer_guard
from audit.settings import AuditSettings, load_settings
from audit.verify import Report, printable, render


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    try:
        return int(args.run(args, settings))
    except (SealerBusy, TreeDamaged, NotSealed, FileNotFoundError, CheckpointInvalid) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m audit", description=__doc__)
    sub = parser.add_subparsers(required=True)
    sub.add_parser("keygen", help="create the checkpoint signing key pair if absent"
                   ).set_defaults(run=_keygen)
    sub.add_parser("seal", help="one sealing pass").set_defaults(run=_seal)
    daemon = sub.add_parser("sealer", help="seal continuously until interrupted")
    daemon.add_argument("--interval", type=float, default=1.0)
    daemon.set_defaults(run=_sealer)
    verify = sub.add_parser("verify", help="verify the log (or an exported bundle)")
    verify.add_argument("--bundle", type=Path, help="verify this export offline")
    verify.add_argument("--public-key", type=Path, help="pin this public key (PEM)")
    verify.set_defaults(run=_verify)
    export = sub.add_parser("export", help="write a verifiable bundle")
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(run=_export)
    proof = sub.add_parser("proof", help="inclusion proof of one event")
    proof.add_argument("event_id", type=int)
    proof.add_argument("--tree-size", type=int, help="checkpoint to prove against")
    proof.set_defaults(run=_proof)
    report = sub.add_parser("verify-report", help="verify a proved report (JSON) offline")
    report.add_argument("file", type=Path)
    report.add_argument("--public-key", type=Path, required=True,
                        help="the log's public key (PEM), obtained independently of the report")
    report.add_argument("--opening", type=Path,
                        help="the opening: full records of the cited events (trusted parties)")
    report.set_defaults(run=_verify_report)
    return parser


def _keygen(_args: argparse.Namespace, s: AuditSettings) -> int:
    if s.signing_key_path.exists():
        print(f"signing key exists: {s.signing_key_path}")
    else:
        generate_keypair(s.signing_key_path, s.public_key_path)
        print(f"created {s.signing_key_path} and {s.public_key_path}")
    print(f"public key {fingerprint(load_public_key(s.public_key_path))}")
    return 0


def _seal(_args: argparse.Namespace, s: AuditSettings) -> int:
    engine = make_engine(s.sealer_url)
    with sealer_guard(engine):
        result = seal_pending(engine, load_private_key(s.signing_key_path), s.checkpoint_dir,
                              backdate_allowance_us=s.backdate_allowance_us)
    for skipped in result.skipped:
        print(skipped)  # named by place and size, escaped: never the junk's own text
    for backdated in result.backdated:
        print(backdated)
    print(f"sealed {result.sealed} events; tree size {result.tree_size}")
    return 0


def _sealer(args: argparse.Namespace, s: AuditSettings) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_sealer(make_engine(s.sealer_url), load_private_key(s.signing_key_path),
               s.checkpoint_dir, stop, args.interval,
               on_start=lambda: print(f"sealer running every {args.interval}s; checkpoints in "
                                      f"{s.checkpoint_dir}", flush=True),
               on_skip=lambda skipped: print(skipped, flush=True),
               on_backdated=lambda backdated: print(backdated, flush=True))
    print("sealer stopped", flush=True)
    return 0


def _verify(args: argparse.Namespace, s: AuditSettings) -> int:
    if args.bundle:
        key_path = args.public_key or args.bundle / "audit-signing.pub"
        print(f"public key {fingerprint(load_public_key(key_path))} ({key_path})")
        return _print_report(verify_bundle(args.bundle, args.public_key))
    public = load_public_key(args.public_key or s.public_key_path)
    return _print_report(verify_database(make_engine(s.database_url), public, s.checkpoint_dir,
                                         backdate_allowance_us=s.backdate_allowance_us,
                                         seal_lag_warning_us=s.seal_lag_warning_us))


def _print_report(report: Report) -> int:
    """Print `render`'s lines (plain text, every control character escaped): a count per
    kind of damage and the first problems of each; exit 1 unless intact."""
    for line in render(report):
        print(line)
    return 0 if report.ok else 1


def _export(args: argparse.Namespace, s: AuditSettings) -> int:
    result = export_bundle(make_engine(s.database_url), args.out,
                           load_public_key(s.public_key_path), s.checkpoint_dir)
    print(f"exported {result.events} events (tree size {result.tree_size}) to {args.out}")
    return 0


def _proof(args: argparse.Namespace, s: AuditSettings) -> int:
    public = load_public_key(s.public_key_path)
    proof = inclusion_proof(make_engine(s.database_url), args.event_id, public, args.tree_size)
    print(json.dumps(proof.to_json(), indent=2))
    holds = proof_holds(proof, public)
    print("proof verifies" if holds else "PROOF DOES NOT VERIFY", file=sys.stderr)
    return 0 if holds else 1


def _verify_report(args: argparse.Namespace, _s: AuditSettings) -> int:
    """Exit 0 when the report is intact, 1 naming each problem, 2 when a file is unreadable."""
    public = load_public_key(args.public_key)
    print(f"public key {fingerprint(public)} ({printable(str(args.public_key))})")
    try:
        document = json.loads(args.file.read_bytes())
        opening = None if args.opening is None else json.loads(args.opening.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"error: not JSON: {exc}", file=sys.stderr)
        return 1
    verdict = verify_report(document, public, opening)
    for line in verdict.summary():
        print(printable(line))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
