"""The background worker: expires stale requests, records grant expiries, delivers webhooks.

Nothing here is needed for safety (grants are checked against the clock when used); it keeps
the record complete and the notifications flowing. One pass is `sweep()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from access.context import Gatehouse
from access.workflow import grants, notify, requests


@dataclass(frozen=True)
class SweepReport:
    requests_expired: int
    grants_expired: int
    notifications: notify.DeliveryReport


def sweep(gh: Gatehouse, webhook_url: str | None) -> SweepReport:
    return SweepReport(requests.expire_pending(gh), grants.record_expiries(gh),
                       notify.deliver_pending(gh, webhook_url))


def run(gh: Gatehouse, stop: threading.Event, interval: float = 10.0) -> None:
    """Sweep every `interval` seconds until `stop` is set."""
    webhook = notify.webhook_url_from_env()
    while not stop.is_set():
        sweep(gh, webhook)
        stop.wait(interval)
