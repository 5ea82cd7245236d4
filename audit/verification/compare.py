"""Check 2: every sealed leaf against the event at its place in sealing order.

Both sides are cursors over batches. While digests agree (the whole log, when intact) they are
stepped together a batch at a time (`Cursor.take_equal`); at a difference a look-ahead of
`LOOKAHEAD` places on each side says what happened there, the damage is recorded, both
cursors step past it, and the comparison goes on: nothing slipped in (a decoy event at id 0,
say) can stop it from comparing the rest, and every damaged leaf is named, not only the first.
Events after the last leaf are the unsealed tail: counted, not damage.

Every leaf stepped over together with an event (agreeing, or changed at its place) is handed
to the clock check, with the event's time (`backdating`).
"""

from __future__ import annotations

from typing import Any

from audit.verification.backdating import ClockCheck
from audit.verification.batches import Cursor, Item
from audit.verification.report import DamageKind, Report

LOOKAHEAD = 64  # how far apart a swapped pair, or a run of gone or slipped-in events, is named
UNSEALED_IDS = 50  # unsealed event ids kept for the report


def compare(events: Cursor[Any], leaves: Cursor[Any], report: Report,
            clock: ClockCheck | None = None) -> None:
    """Step `leaves` and `events` to their ends, naming every place they part; `clock` hears
    of every leaf paired with an event."""
    while True:
        leaves.take_equal(events, None if clock is None else clock.paired)
        leaf = leaves.peek(0)
        if leaf is None:
            break
        event = events.peek(0)
        if event is None:
            while leaves.peek(0) is not None:
                gone = leaves.pop()
                report.add(DamageKind.MISSING, gone.key,
                           f"the event sealed at leaf {gone.key} is gone", gone.event_id)
            break
        _resolve(event, leaf, events, leaves, report, clock)
    report.unsealed.count, report.unsealed.first_ids = events.drain(UNSEALED_IDS)


def _find(cursor: Cursor[Any], digest: bytes) -> int | None:
    """The smallest k in 1..LOOKAHEAD-1 whose item has `digest`."""
    for k in range(1, LOOKAHEAD):
        item = cursor.peek(k)
        if item is None:
            return None
        if item.digest == digest:
            return k
    return None


def _resolve(event: Item, leaf: Item, events: Cursor[Any], leaves: Cursor[Any],
             report: Report, clock: ClockCheck | None) -> None:
    """Name what differs at `leaf` (the event there is `event`) and step both cursors past it."""
    later_leaf = _find(leaves, event.digest)  # the event's content is sealed further on
    later_event = _find(events, leaf.digest)  # the leaf's content sits further on
    if later_leaf and later_event:
        if later_leaf == later_event == 1:  # a swapped pair
            second_leaf, second_event = leaves.peek(1), events.peek(1)
            assert second_leaf is not None and second_event is not None
            for here, holder, content in ((leaf, event, second_leaf),
                                          (second_leaf, second_event, leaf)):
                report.add(DamageKind.REORDERED, here.key,
                           f"event {holder.key} holds the content sealed at leaf "
                           f"{content.key}", holder.key)
            for _ in range(2):
                _pair(leaves, events, clock)
            return
        elsewhere = leaves.peek(later_leaf)
        assert elsewhere is not None
        report.add(DamageKind.REORDERED, leaf.key,
                   f"event {event.key} holds the content sealed at leaf {elsewhere.key}",
                   event.key)
        _pair(leaves, events, clock)
    elif later_leaf:
        for _ in range(later_leaf):
            gone = leaves.pop()
            report.add(DamageKind.MISSING, gone.key,
                       f"the event sealed at leaf {gone.key} is gone", gone.event_id)
    elif later_event:
        for _ in range(later_event):
            extra = events.pop()
            report.add(DamageKind.INSERTED, leaf.key,
                       f"event {extra.key} was never sealed but sits before leaf {leaf.key}",
                       extra.key)
    else:
        report.add(DamageKind.MODIFIED, leaf.key,
                   f"event {event.key} at leaf {leaf.key} was changed after sealing", event.key)
        _pair(leaves, events, clock)


def _pair(leaves: Cursor[Any], events: Cursor[Any], clock: ClockCheck | None) -> None:
    """Step both cursors over one leaf and the event at its place."""
    leaf, event = leaves.pop(), events.pop()
    if clock is not None:
        clock.paired_item(leaf, event)
