"""Duplicate detection by `event_id`: a bounded window of recent ids per entity key.

The window lives in a table keyed like the source topic, so it moves with its partition on a
rebalance and is restored from the changelog. Each id is stored with the offset it arrived at:

- the same id at another offset is a **duplicate** (upstream sent it twice): ignored;
- the same id at the same offset is a **replay** of that very message after a crash or
  rebalance (the table's changelog can run ahead of the committed offset): it is processed
  again, and the handlers behind are idempotent (deterministic output ids, state ordered by
  `occurred_at`), so a replay re-creates what was lost and never doubles what was delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from operator import itemgetter


class Seen(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    DUPLICATE = "duplicate"


Window = list[Sequence[str | int]]
_ID = itemgetter(0)


def remember(
    recent: Sequence[Sequence[str | int]] | None, event_id: str, offset: int, window: int
) -> tuple[Seen, Window]:
    """Classify an arrival and return the new window (newest last, at most `window` long)."""
    pairs = recent or ()
    if event_id in map(_ID, pairs):  # the common case, a new id, without a Python-level loop
        for seen_id, seen_offset in pairs:
            if seen_id == event_id:
                return (Seen.REPLAY if seen_offset == offset else Seen.DUPLICATE), list(pairs)
    ids: Window = list(pairs)  # a new list; the stored pairs are shared, never changed
    ids.append([event_id, offset])
    if len(ids) > window:
        del ids[: len(ids) - window]
    return Seen.NEW, ids
