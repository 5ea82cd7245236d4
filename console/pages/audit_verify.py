"""Verify (auditors): the newest signed checkpoint, a full verification, single-event proofs,
and the verifiable bundle for offline checking."""

from __future__ import annotations

import streamlit as st

from access import oversight
from access.authz import Action
from access.errors import GatehouseError
from access.oversight import BundleFiles, from_micros, printable, render
from access.principal import Principal
from console.audit_widgets import ExportFiles, downloads, show_proof
from console.errors import show_error
from console.formatting import clock, when
from console.gate import page
from console.step_up import Ask, keep, kept, sensitive

gh, auditor = page(Action.AUDIT_VERIFY)
st.title("Verify the audit log")
try:
    seen = oversight.overview(gh, auditor)
except GatehouseError as exc:
    show_error(exc)
    st.stop()

events, sealed, waiting = st.columns(3)
events.metric("Events", f"{seen.status.events:,}")
sealed.metric("Sealed", f"{seen.status.sealed:,}")
waiting.metric("Awaiting the sealer", f"{seen.status.events - seen.status.sealed:,}")
if seen.checkpoint is not None:
    cp = seen.checkpoint
    st.markdown(f"**Newest signed checkpoint**: {cp.size:,} events, signed "
                f"{when(from_micros(cp.ts_us), seconds=True)} by key "
                f"`{seen.key_fingerprint}`; its signature checks out under the pinned key.")
    with st.expander("The signed note (C2SP checkpoint)"):
        st.code(cp.note, language=None, wrap_lines=True)
elif seen.checkpoint_error:
    st.error("The newest checkpoint does not open under the pinned key.",
             icon=":material/gpp_bad:")
    st.text(printable(seen.checkpoint_error))  # plain text: nothing of it is markdown
else:
    st.info("No checkpoint yet: the sealer writes one within a second of the first event.")

verify, prove = st.columns(2)
with verify:
    st.subheader("Whole log")
    st.caption("Recomputes every leaf from the stored events, rebuilds the Merkle tree and "
               "checks it against every signed checkpoint.")
    if st.button("Verify now", type="primary"):
        bar = st.progress(0.0, text="Reading the sealed leaves…")
        try:
            keep("verify_report", (gh.now(), oversight.verify(
                gh, auditor, lambda done, total: bar.progress(
                    min(done / max(total, 1), 1.0), text=f"{done:,} of {total:,} leaves"))))
        except GatehouseError as exc:
            show_error(exc)
        bar.empty()
    # Kept for this page only: coming back later shows no verdict of an earlier visit.
    if isinstance(held := kept("verify_report"), tuple):
        checked, report = held
        # The lines of `python -m audit verify`, as plain text: escaped, never markdown. The
        # verdict above them says their first line already when the log is intact.
        lines = render(report)
        if report.ok:
            st.success(f"Intact: {report.tree_size:,} sealed events, "
                       f"{len(report.checkpoints)} signed checkpoints (checked "
                       f"{clock(checked, seconds=True)}).", icon=":material/verified:")
            lines = lines[1:]
        else:
            st.error(f"NOT INTACT (checked {clock(checked, seconds=True)}); what "
                     "verification found:", icon=":material/gpp_bad:")
        if lines:  # damage, events awaiting the sealer, warnings
            st.code("\n".join(lines), language=None, wrap_lines=True)
with prove:
    st.subheader("One event")
    with st.form("prove"):
        box, go = st.columns(2, vertical_alignment="bottom")
        event_id = box.number_input("Event id", min_value=1, step=1, value=None)
        asked = go.form_submit_button("Check inclusion proof")
    if asked and event_id is not None:
        try:
            keep("verify_proof", oversight.prove(gh, auditor, int(event_id)))
        except GatehouseError as exc:
            keep("verify_proof", None)
            show_error(exc)
    if isinstance(proof := kept("verify_proof"), oversight.ProofCheck):
        show_proof(proof)

st.subheader("Offline verification")
st.caption("The bundle of `python -m audit export`: sealed events, every checkpoint and the "
           "public key. Check it anywhere with `python -m audit verify --bundle DIR "
           "--public-key KEY`, pinning the key you trust.")


def build_bundle(who: Principal) -> str:
    directory = oversight.new_export_dir()
    try:
        with st.spinner("Exporting and zipping the sealed log…"):
            bundle = oversight.export_verifiable_bundle(gh, who, directory)
    except BaseException:
        oversight.remove_export(directory)
        raise
    keep("bundle", (ExportFiles.of(directory, bundle.pieces, "application/zip"), bundle))
    return ""  # the bundle below says what was written


clicked = st.button("Build the verifiable bundle")
sensitive(gh, auditor, "bundle",
          Ask("Build the verifiable bundle of the sealed log", build_bundle) if clicked else None)
def show_bundle() -> None:
    """The bundle this page keeps, if any (in a function: see `audit_log.show_export`)."""
    held = kept("bundle")
    if not isinstance(held, tuple):
        return
    files: ExportFiles = held[0]
    bundle: BundleFiles = held[1]
    whole = bundle.pieces[0].name.removesuffix(".001")
    st.success(f"Bundle of {bundle.events:,} events (tree size {bundle.tree_size:,}). Each "
               "file is removed from the server once downloaded."
               + (f" Join the pieces with `cat {whole}.0* > {whole}`."
                  if len(bundle.pieces) > 1 else ""))
    downloads(files, "bundle_download")


show_bundle()
