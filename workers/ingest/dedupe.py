"""Duplicate detection by `event_id`: a bounded window of recent ids per entity key.

The window lives in a table keyed like the source topic, so it moves with its partition on a
rebalance and is restored from the changelog. Each id is stored with the offset it arrived at:

- the same id at another offset is a **duplicate** (upstream sent it twice): ignored;
- the same id at the same offset is a **replay** of that very message after a crash or
  rebalance (the table's changelog can run ahead of the committed offset): it is processed
  again, and the handlers behind are idempotent (deterministic output ids, state ordered by
  `occurred_at`), so a replay re-creates what was lost and never doubles what was delivered.

A window is stored as one JSON object, id → offset, oldest first. A window stored by earlier
builds, a list of [id, offset] pairs, is read as the same window.

In memory a new window is a native `SeenWindow` (workers/native: the ids end to end in one
buffer, no Python object per id), which a table encodes in that same form at the commit. Where
a table reads its values back as JSON data (a worker's), the dict it hands over is taken as it
is: the dict code below is the reference the native window is tested against, and what such a
table's window goes on being. Where a table keeps values as put (a backtest's shadow worker),
windows stay native: with tens of thousands of keys, copying and freeing a dict of 64 ids and
offsets was the cost of a lookup (cache misses, not work).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from dealstream_core import SeenWindow


class Seen(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    DUPLICATE = "duplicate"


Window = dict[str, int]  # event id -> offset, oldest first
# a window as the table holds it: native, JSON data, or an earlier build's list of pairs
Stored = SeenWindow | Mapping[str, int] | Sequence[Sequence[str | int]]
_EMPTY = SeenWindow()
_VERDICTS = (Seen.NEW, Seen.REPLAY, Seen.DUPLICATE)  # by the native window's verdict number


def remember(
    recent: Stored | None, event_id: str, offset: int, window: int
) -> tuple[Seen, Window | SeenWindow]:
    """Classify an arrival and return the new window (newest last, at most `window` long): a
    native window when given none or a native one, else a dict. A window handed in is never
    changed: the table may still hold it."""
    if recent is None or isinstance(recent, SeenWindow):
        verdict, native = (recent or _EMPTY).remember(event_id, offset, window)
        return _VERDICTS[verdict], native
    known = _window(recent)
    seen = known.get(event_id)
    if seen is not None:
        return (Seen.REPLAY if seen == offset else Seen.DUPLICATE), known.copy()
    ids = known.copy()
    ids[event_id] = offset
    while len(ids) > window:
        del ids[next(iter(ids))]
    return Seen.NEW, ids


def _window(recent: Mapping[str, int] | Sequence[Sequence[str | int]]) -> Window:
    """`dict.copy` of a window is a copy of its table (`dict(window)` inserts key by key once
    a deletion left a hole in it, as every full window's has: 2 µs against 0.4)."""
    if not recent:
        return {}
    if isinstance(recent, dict):
        return recent
    if isinstance(recent, Mapping):
        return dict(recent)
    return {str(pair[0]): int(pair[1]) for pair in recent}  # earlier builds' list of pairs
