"""Check 3: time runs forward in sealing order, within an allowance.

An appender chooses `ts_us` on SQLite (PostgreSQL stamps it, see migration 0008), so a review
written a day after a break-glass could claim to be twelve minutes after it. Sealing order is
commit order, which the appender does not choose: an event whose time runs backwards against
its predecessor in sealing order, or lies before the time of the checkpoint that preceded its
sealing, by more than `allowance_us`, is `backdated`.

The allowance is what an honest event needs: it is stamped when its use case starts and sealed
after its transaction commits, so it can trail its predecessor by as long as a write
transaction stays open (`audit.settings.BACKDATE_ALLOWANCE_US`).

The check hears of every sealed leaf paired with the event at its place (`compare` pairs
them), with the event's time as the event reader read it: a leaf whose event is gone, and an
event that was never sealed, are not paired and not checked (`compare` names both).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from operator import sub
from typing import Any

from audit.checkpoint import Checkpoint
from audit.verification.batches import NO_TIME, Item
from audit.verification.report import DamageKind, Report


class ClockCheck:
    """Fed the sealed leaves in order, each with the time of the event at its place."""

    def __init__(self, signed: dict[int, Checkpoint], allowance_us: int, report: Report) -> None:
        self.sizes = sorted(signed)
        self.times = [signed[size].ts_us for size in self.sizes]
        self.allowance, self.report = allowance_us, report
        self.previous: int | None = None

    def paired(self, leaves: Any, start: int, events: Any, at: int, n: int) -> None:
        """A cursor pair's hook (`Cursor.take_equal`): leaves `start:start+n` of a leaf batch
        were stepped over together with events `at:at+n` of an event batch."""
        times = getattr(events, "times", None)
        if times is not None:
            self.sealed(leaves.seqs[start:start + n], times[at:at + n],
                        events.ids[at:at + n])

    def paired_item(self, leaf: Item, event: Item) -> None:
        """One leaf stepped over together with the event at its place (damage resolved)."""
        if event.ts_us is not None:
            self.sealed([leaf.key], [event.ts_us], [event.key])

    def sealed(self, seqs: Sequence[int], times: Sequence[int], ids: Sequence[int]) -> None:
        """Leaves `seqs` (in order, following the ones heard before) sealed events `ids` of
        times `times`. A run with nothing backdated in it is checked a slice at a time."""
        if not times:
            return
        if self._forward(seqs, times):
            self.previous = times[-1]
            return
        allowance, previous = self.allowance, self.previous
        for seq, ts, event in zip(seqs, times, ids, strict=True):
            if ts == NO_TIME:  # not an integer: the event no longer hashes, `compare` names it
                continue
            floor = self._checkpoint_time(seq)
            if previous is not None and ts < previous - allowance:
                self._backdated(seq, event, f"{(previous - ts) // 1_000_000} s before the "
                                            "event sealed before it")
            elif floor is not None and ts < floor - allowance:
                self._backdated(seq, event, f"{(floor - ts) // 1_000_000} s before the "
                                            "checkpoint that preceded its sealing")
            else:  # a backdated event is not the yardstick of the next: a run of them is named
                previous = ts
        self.previous = previous

    def _forward(self, seqs: Sequence[int], times: Sequence[int]) -> bool:
        """Whether no event of the run is backdated, decided with C-level passes over slices
        (what the item-by-item loop would find, when it finds nothing)."""
        allowance, first = self.allowance, times[0]
        if first == NO_TIME or (self.previous is not None and first < self.previous - allowance):
            return False
        if len(times) > 1 and min(map(sub, times[1:], times[:-1])) < -allowance:
            return False
        low, high = seqs[0], seqs[-1]
        if high - low != len(seqs) - 1:  # not gap-free: the loop decides
            return False
        at = bisect_right(self.sizes, low) - 1  # the checkpoint before the run's first leaf
        start = 0
        while start < len(times):
            nxt = at + 1
            end = len(times) if nxt >= len(self.sizes) else min(self.sizes[nxt] - low,
                                                                 len(times))
            if at >= 0 and min(times[start:end]) < self.times[at] - allowance:
                return False
            at, start = nxt, end
        return True

    def _checkpoint_time(self, seq: int) -> int | None:
        """The time of the newest checkpoint that did not yet cover leaf `seq`."""
        at = bisect_right(self.sizes, seq) - 1
        return None if at < 0 else self.times[at]

    def _backdated(self, seq: int, event: int | None, how: str) -> None:
        self.report.add(DamageKind.BACKDATED, seq,
                        f"event {event} at leaf {seq} is dated {how}", event)
