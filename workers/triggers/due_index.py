"""Which keys of one partition are due next (opportunities for the triggers, contacts for
their decay re-scores): a heap with lazy invalidation.

Built once per partition assignment from the table (the durable schedule) and kept current as
states change, so a tick pops what is due in O(log n) each instead of scanning every state.

A key moved later is not pushed again: the heap keeps an entry for each key at or before its
due time, and an entry found early is pushed again at the key's due time when it reaches the
top. Most changes move a due time later (each engagement puts its contact's next decay
re-score further off), and each push made the heap grow until it was rebuilt.

`DueIndex` is native (workers/native/src/due.rs): as a Python list of `(due, key)` tuples,
each comparison read a tuple and a float object from anywhere in memory: over a month's replay,
with ten thousand keys a partition, cold, a tick's `pop_due` took 32 µs and the index about
3 µs an event (timing wrappers' cost included). Its methods: `set(key, due)` (None,
or a time that is not finite, unschedules), `due_at(key)`, `pop_due(now, limit=None)` (the keys
due, earliest first, ties by key), `next_due()` and `len()`. The tests hold it to a sorted dict
(tests/unit/test_opportunity_state.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dealstream_core import DueIndex

__all__ = ["DueIndex", "earliest_due"]


def earliest_due(indexes: Mapping[int, DueIndex], partitions: int) -> float:
    """The earliest due time over partitions 0..`partitions`-1 (-inf: one has no index yet,
    so a tick must build it; inf: nothing scheduled)."""
    earliest = math.inf
    for partition in range(partitions):
        index = indexes.get(partition)
        if index is None:
            return -math.inf
        due = index.next_due()
        if due is not None and due < earliest:
            earliest = due
    return earliest
