"""The sign-in screen after a refused callback: the reason's message, once, and only for
reasons the server middleware can send (a hand-made URL claims nothing)."""

from __future__ import annotations

from pathlib import Path

from tests.support.console_helpers import console


def test_a_refusal_reason_shows_its_message_and_leaves_the_url(oidc: str,
                                                               data_dir: Path) -> None:
    at = console(oidc)
    at.query_params["signin"] = "expired"
    at.run()
    assert [e.value for e in at.error] == [
        "**Sign-in refused.** The sign-in had already expired when it reached Gatehouse. "
        "Check that this computer's clock is right. The attempt was refused and recorded. "
        "Sign in again; if this repeats, tell your admin."]
    assert "signin" not in at.query_params
    assert [b.label for b in at.button] == ["Sign in"]


def test_a_made_up_reason_shows_nothing(oidc: str, data_dir: Path) -> None:
    at = console(oidc)
    at.query_params["signin"] = "you-were-hacked"
    at.run()
    assert not at.error and [b.label for b in at.button] == ["Sign in"]
