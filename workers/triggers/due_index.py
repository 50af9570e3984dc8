"""Which opportunities of one partition are due next: a heap with lazy invalidation.

Built once per partition assignment from the table (the durable schedule) and kept current as
states change, so a tick pops what is due in O(log n) each instead of scanning every
opportunity.

A key moved later is not pushed again: the heap keeps an entry for each key at or before its
due time, and an entry found early is pushed again at the key's due time when it reaches the
top. Most changes move a due time later (each engagement puts its contact's next decay
re-score further off), and each push made the heap grow until it was rebuilt.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping


class DueIndex:
    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: str, due: float | None) -> None:
        """Schedule `key` at `due` (epoch seconds), or unschedule it with None. A due time
        that is not a finite number is never due (a NaN at the top would stop every pop)."""
        if due is None or not math.isfinite(due):
            self._due.pop(key, None)
            return
        old = self._due.get(key)
        if old == due:
            return
        self._due[key] = due
        if old is not None and due > old:
            return  # the entry at `old` (or before) stands for it
        heapq.heappush(self._heap, (due, key))
        if len(self._heap) > 2 * len(self._due) + 1024:
            self._compact()

    def due_at(self, key: str) -> float | None:
        return self._due.get(key)

    def pop_due(self, now: float, limit: int | None = None) -> list[str]:
        """Remove and return the keys due at `now`, earliest first."""
        out: list[str] = []
        while limit is None or len(out) < limit:
            due = self.next_due()  # the top entry is then the key's own
            if due is None or due > now:
                break
            _, key = heapq.heappop(self._heap)
            del self._due[key]
            out.append(key)
        return out

    def next_due(self) -> float | None:
        """The earliest due time; the entry at the top of the heap is then that key's."""
        heap, dues = self._heap, self._due
        while heap:
            due, key = heap[0]
            current = dues.get(key)
            if current == due:
                return due
            if current is not None and current > due:  # moved later: wait there
                heapq.heapreplace(heap, (current, key))
            else:  # gone, or an earlier entry of the key stands for it
                heapq.heappop(heap)
        return None

    def _compact(self) -> None:
        self._heap = [(due, key) for key, due in self._due.items()]
        heapq.heapify(self._heap)


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
