"""Check 3: time runs forward in sealing order, within an allowance.

An appender chooses `ts_us` on SQLite (PostgreSQL stamps it, see migration 0008), so a review
written a day after a break-glass could claim to be twelve minutes after it. Sealing order is
commit order, which the appender does not choose: an event whose time runs backwards against
its predecessor in sealing order, or lies before the time of the checkpoint that preceded its
sealing, by more than `allowance_us`, is `backdated`.

The allowance is what an honest event needs: it is stamped when its use case starts and sealed
after its transaction commits, so it can trail its predecessor by as long as a write
transaction stays open (`audit.settings.BACKDATE_ALLOWANCE_US`).
"""

from __future__ import annotations

from bisect import bisect_right

from audit.checkpoint import Checkpoint
from audit.verification.batches import LeafBatch
from audit.verification.report import DamageKind, Report


class ClockCheck:
    """Fed the sealed leaves in order (a cursor's `consumed` hook), with their events' times."""

    def __init__(self, signed: dict[int, Checkpoint], allowance_us: int, report: Report) -> None:
        self.sizes = sorted(signed)
        self.times = [signed[size].ts_us for size in self.sizes]
        self.allowance, self.report = allowance_us, report
        self.previous: int | None = None

    def consumed(self, batch: LeafBatch, start: int, end: int) -> None:
        if batch.times is None:
            return
        allowance, previous = self.allowance, self.previous
        for i in range(start, end):
            ts = batch.times[i]
            if ts is None:  # the event is gone: `compare` names that
                continue
            floor = self._checkpoint_time(batch.seqs[i])
            if previous is not None and ts < previous - allowance:
                self._backdated(batch, i, f"{(previous - ts) // 1_000_000} s before the "
                                          "event sealed before it")
            elif floor is not None and ts < floor - allowance:
                self._backdated(batch, i, f"{(floor - ts) // 1_000_000} s before the "
                                          "checkpoint that preceded its sealing")
            else:  # a backdated event is not the yardstick of the next: a run of them is named
                previous = ts
        self.previous = previous

    def _checkpoint_time(self, seq: int) -> int | None:
        """The time of the newest checkpoint that did not yet cover leaf `seq`."""
        at = bisect_right(self.sizes, seq) - 1
        return None if at < 0 else self.times[at]

    def _backdated(self, batch: LeafBatch, i: int, how: str) -> None:
        seq = batch.seqs[i]
        event = None if batch.event_ids is None else batch.event_ids[i]
        self.report.add(DamageKind.BACKDATED, seq,
                        f"event {event} at leaf {seq} is dated {how}", event)
