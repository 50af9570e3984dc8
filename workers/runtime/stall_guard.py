"""Partitions whose committed offset cannot move are sought back to it.

Faust commits a partition up to its first offset not acknowledged. When records after the
committed offset are never handed to an agent, nothing acknowledges them and the partition's
commit stops for good: lag that never drains, on one partition, while the others go on. That
happens when the fetch position moves past records no agent got: a rebalance's seek to the
committed offsets runs on the consumer's thread while the agents' loop still handles a fetch
made before it. A fresh-clone CI run saw it once: 75 records of crm.contacts behind for 300 s
after three SIGKILLs, every other partition caught up.

Every few seconds the guard looks at each assigned partition of the engine's topics. One whose
commit is stuck at the same offset over `STRIKES` looks in a row, in the same consumer
generation, with records after it, is sought back to its committed offset, and the stall is
logged and counted (`dealstream_partition_stalls_total{topic,reason}`). Its records come again;
the engine skips those a committed batch applied (its checkpoint), processes the others, and
the commit moves. A seek back too many costs a re-read, never an output.

Stuck means, with records after the committed offset:
- `head`: what Faust would commit next starts more than one offset after the committed one
  (its `_new_offset` gives nothing, however many later records are acknowledged);
- `idle`: the consumer has handed over records at or after the committed offset, and none of
  the topic's records is buffered or in a batch, yet the commit does not move (with two or more
  offsets after it: the last offset of a partition written by a transactional producer is a
  marker no commit passes);
- `unread`: nothing was handed over since the last seek, none of the topic's records is buffered
  or in a batch, yet the fetch position is past the committed offset: a poll was dropped for a
  rebalance and no seek brought the position back (a partition the group never committed, which
  aiokafka's seek to the committed offsets leaves where it is; a fresh-clone CI run saw
  `contact-opportunities:1` keep its 5 records for 120 s after a kill and a join).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workers.runtime.feeds import fetch_position

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between looks
STRIKES = 3  # looks in a row at the same stuck offset before seeking back


@dataclass(frozen=True, slots=True)
class PartitionView:
    """One partition's consumer bookkeeping at one look (offsets as Faust keeps them)."""

    committed: int | None  # the next offset to read, as committed
    read: int | None  # the last offset handed over (or the committed one, after a seek)
    head: int | None  # the lowest offset acknowledged or in a gap, not committed yet
    highwater: int | None  # the offset the next record written will get
    idle: bool  # none of the topic's records is buffered or in a batch
    position: int | None = None  # the consumer's fetch position


def stuck(view: PartitionView) -> str | None:
    """Why the partition's commit cannot move ("head", "idle", "unread"), or None."""
    committed = view.committed
    if committed is None or view.highwater is None or view.highwater <= committed:
        return None
    if view.head is not None and view.head - committed > 1:
        return "head"
    if view.idle and view.read is not None and view.read >= committed:
        # one offset behind is a transaction marker as often as a record: a partition whose
        # last offset is a marker never commits it (Kafka's lag says 1 for good)
        return "idle" if view.highwater - committed > 1 else None
    if view.idle and view.read is None and view.position is not None and view.position > committed:
        return "unread"
    return None


@dataclass
class _Strikes:
    generation: int
    committed: int
    count: int


class StallGuard:
    """Counts, per partition, the looks at which its commit was stuck at the same offset."""

    def __init__(self, strikes: int = STRIKES) -> None:
        self.strikes = strikes
        self._seen: dict[Any, _Strikes] = {}

    def look(
        self, generation: int, views: Iterable[tuple[Any, PartitionView]]
    ) -> list[tuple[Any, int, str]]:
        """The partitions to seek back now: (tp, committed offset, reason)."""
        due: list[tuple[Any, int, str]] = []
        seen: dict[Any, _Strikes] = {}
        for tp, view in views:
            reason = stuck(view)
            if reason is None or view.committed is None:
                continue
            before = self._seen.get(tp)
            count = 1
            if before is not None and before.generation == generation:
                count = before.count + 1 if before.committed == view.committed else 1
            if count >= self.strikes:
                due.append((tp, view.committed, reason))
                continue  # sought back: counting starts again
            seen[tp] = _Strikes(generation, view.committed, count)
        self._seen = seen
        return due


def view_of(consumer: Any, tp: Any, idle: bool) -> PartitionView:
    """A partition's view from Faust's consumer bookkeeping (its private fields). A partition
    the group never committed counts as committed at 0: records lost before its first commit
    stall it just the same, and a seek to 0 starts again from the earliest retained record."""
    committed = consumer._committed_offset.get(tp) or 0
    heads = [min(acked) for acked in [consumer._acked.get(tp)] if acked]
    gap = consumer._gap.get(tp)
    if gap:
        heads.append(gap.begin())
    try:
        highwater = consumer.highwater(tp)
    except Exception:  # not assigned any more, or no fetch yet
        highwater = None
    return PartitionView(
        committed=committed,
        read=consumer._read_offset.get(tp),
        head=min(heads) if heads else None,
        highwater=highwater,
        idle=idle,
        position=fetch_position(consumer, tp),
    )


async def look_and_seek(
    app: Any,
    guard: StallGuard,
    topics: Iterable[str],
    idle: Callable[[str], bool],
    on_stall: Callable[[str, str], None],
) -> None:
    """One look at the assigned partitions of `topics` (seeking back the stuck ones)."""
    consumer = app.consumer
    if consumer is None or app.rebalancing or not consumer.flow_active:
        return
    wanted = set(topics)
    active = consumer._get_active_partitions()
    tps = sorted(tp for tp in consumer.assignment() if tp.topic in wanted and tp in active)
    generation = int(app.consumer_generation_id or 0)
    views = {tp: view_of(consumer, tp, idle(tp.topic)) for tp in tps}
    for tp, offset, reason in guard.look(generation, views.items()):
        if app.rebalancing or int(app.consumer_generation_id or 0) != generation:
            return  # the rebalance seeks every partition to its committed offset
        view = views[tp]
        log.warning(
            "%s[%d]: the commit is stuck at offset %d (%s: last read %s, next acknowledged %s, "
            "end %s); seeking back to it, the engine skips what it applied",
            tp.topic, tp.partition, offset, reason, view.read, view.head, view.highwater,
        )  # fmt: skip
        await consumer.seek(tp, offset)
        on_stall(tp.topic, reason)
