"""Writing a whole fetch of changelog records into a table's store in one step.

Faust replays a changelog one record at a time: each record becomes a Faust event, goes through
a queue, is appended to a buffer, and the buffer is written to the store now and then, its
offset in a separate write afterwards. On this machine that is about 3,000 records/s, so a
worker whose store is gone (a lost volume, a new node) needed 11 minutes for 2M keys.

Here the records of one partition's fetch are written as they come from the consumer:

* rocksdict: one `WriteBatch` per fetch, holding every put and delete *and* Faust's own
  persisted-offset key, so the store and the offset it has reached never disagree — a worker
  killed mid-restore starts again where its last batch ended, and never skips a record it did
  not write (RocksDB applies a write batch atomically).
* the memory store (tests, development): the same records applied to its dict, keys decoded
  as Faust's JSON key serializer does.

Nothing here knows about Faust's recovery bookkeeping: `workers.runtime.recovery` decides which
records are new and calls this.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import orjson


class ChangelogRecord(Protocol):
    """What is read of a consumer record (aiokafka's `ConsumerRecord` has these)."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class UnsupportedStore(Exception):
    """The table's store is neither rocksdict nor Faust's memory store: leave it to Faust."""


def write_fetch(table: Any, partition: int, records: Sequence[ChangelogRecord]) -> None:
    """Apply `records` (one partition of a changelog, in offset order) to `table`'s store."""
    if not records:
        return
    store = table.data
    if getattr(store, "use_rocksdict", False) and hasattr(store, "_db_for_partition"):
        _write_rocksdict(store, partition, records)
    elif hasattr(store, "_key_partition") and isinstance(getattr(store, "data", None), dict):
        _write_memory(table, store, partition, records)
    else:
        raise UnsupportedStore(type(store).__name__)


def _write_rocksdict(store: Any, partition: int, records: Sequence[ChangelogRecord]) -> None:
    import rocksdict  # the worker's store dependency; imported here so tests need not open one

    batch = rocksdict.WriteBatch(raw_mode=True)
    for record in records:
        if record.key is None:
            continue  # a table key is never None; Faust would not find it either
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
    batch.put(store.offset_key, str(records[-1].offset).encode())
    store._db_for_partition(partition).write(batch)


def _write_memory(
    table: Any, store: Any, partition: int, records: Sequence[ChangelogRecord]
) -> None:
    data, where = store.data, store._key_partition
    for record in records:
        if record.key is None:
            continue
        key = table._to_key(orjson.loads(record.key))
        if record.value is None:
            data.pop(key, None)
            where.pop(key, None)
        else:
            data[key] = table._to_value(orjson.loads(record.value))
            where[key] = partition


class RestoreRate:
    """Records restored per second over the last `window` seconds, and the time to finish."""

    def __init__(self, window: float = 10.0, clock: Any = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self.total = 0
        self._marks: deque[tuple[float, int]] = deque()

    def add(self, count: int) -> None:
        now = self.clock()
        self.total += count
        self._marks.append((now, self.total))
        while len(self._marks) > 2 and now - self._marks[0][0] > self.window:
            self._marks.popleft()

    def per_second(self) -> float:
        if len(self._marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def eta(self, remaining: int) -> float | None:
        """Seconds until `remaining` records are restored at the recent rate (None: unknown)."""
        if remaining <= 0:
            return 0.0
        rate = self.per_second()
        return remaining / rate if rate > 0 else None
