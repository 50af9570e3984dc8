"""The garbage collector during a replay: it looks at each batch's new objects only.

A replay's memory is its shadows' state (tables, ledgers, dedupe windows, queues), and it only
grows. Left as it is, the collector walked all of it in each full collection, ever larger (34
of them over the first million events of the benchmark's month, 3.6 s), and its young
collections, every 700 allocations, walked the batch's large containers (its transaction's
writes, the records queued for the next agent) again and again (8,919 of them, 2.3 s): 6.7 s
in all, 7 µs an event. Here the objects a batch leaves alive are frozen after it (`gc.freeze`:
the collector no longer looks at them), and a young collection waits for 20,000 allocations:
0.14 s. Cycles the replay leaves behind are then never collected; it leaves none that matter
(the peak RSS of a million events is the same either way).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 20_000  # allocations between young collections (Python's default: 700)


@contextmanager
def frozen_between_batches() -> Iterator[None]:
    """Within it, `after_batch()` freezes what is alive; on leaving, the collector is as it
    was (what was frozen is looked at again, in the oldest generation; unless the process had
    frozen objects before, which stay frozen with the rest: a freeze cannot be undone in
    part)."""
    threshold = gc.get_threshold()
    frozen_before = gc.get_freeze_count() > 0
    gc.set_threshold(YOUNG, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen_before:
            gc.unfreeze()


def after_batch() -> None:
    gc.freeze()
