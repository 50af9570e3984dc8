"""The history a backtest replays: every partition of the contract input topics, read by a
consumer of its own (no group: no offset moves, nothing written), from the earliest retained
offset up to the end offsets at the start, merged across partitions by record timestamp (the
order the workers received them in), records of the same millisecond by their `occurred_at`.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from schemas.catalog import INPUT_TOPICS
from workers.backtest.errors import BacktestError
from workers.engine.records import Record
from workers.kafka_client import client_options, started
from workers.settings import Settings

FETCH_TIMEOUT_MS = 1000
BATCH = 2000  # records per batch handed to the replay


@dataclass(frozen=True)
class Extent:
    """What is there to read: records per topic (end - earliest offset)."""

    records: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.records.values())


@dataclass(frozen=True)
class Bounds:
    """The offsets a backtest reads, taken once at its start: every process replaying a rule
    set reads exactly these, whatever the workers write meanwhile."""

    offsets: dict[tuple[str, int], tuple[int, int]]  # (full topic, partition) -> [start, end)
    extent: Extent


class History:
    def __init__(self, settings: Settings, topics: Sequence[str] | None = None) -> None:
        self.settings = settings
        self.names = list(topics or [t.name for t in INPUT_TOPICS])

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",  # a deleted start is an error, not a silent skip
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )

    async def bounds(self) -> Bounds:
        """From the earliest retained offset to the end, now, of every input partition."""
        async with started(self._consumer()) as consumer:
            full = {self.settings.topic(n): n for n in self.names}
            present = await consumer.topics()
            if not any(name in present for name in full):
                raise BacktestError(
                    f"no input topic on {','.join(self.settings.broker_list)} "
                    f"(prefix {self.settings.topic_prefix!r}): nothing to replay"
                )
            await consumer._client.set_topics([n for n in full if n in present])  # partitions
            tps = [
                TopicPartition(name, p)
                for name in full
                if name in present
                for p in sorted(consumer.partitions_for_topic(name) or ())
            ]
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
        counts: dict[str, int] = {}
        for tp in tps:
            counts[full[tp.topic]] = counts.get(full[tp.topic], 0) + ends[tp] - starts[tp]
        offsets = {(tp.topic, tp.partition): (starts[tp], ends[tp]) for tp in tps}
        return Bounds(offsets, Extent(counts))

    async def read(self, bounds: Bounds) -> AsyncIterator[list[tuple[int, Record]]]:
        """Batches of (record timestamp in ms, record) within `bounds`, in timestamp order
        across partitions."""
        todo = [TopicPartition(t, p) for (t, p), (a, b) in bounds.offsets.items() if a < b]
        if not todo:
            return
        ends = {tp: bounds.offsets[(tp.topic, tp.partition)][1] for tp in todo}
        async with started(self._consumer()) as consumer:
            consumer.assign(todo)
            for tp in todo:
                consumer.seek(tp, bounds.offsets[(tp.topic, tp.partition)][0])
            try:
                async for batch in _merged(consumer, todo, ends):
                    yield batch
            except OffsetOutOfRangeError:
                raise BacktestError(
                    "records of the history were deleted (retention) while the backtest read "
                    "them: run it again"
                ) from None


async def _merged(
    consumer: AIOKafkaConsumer, todo: list[TopicPartition], ends: dict[TopicPartition, int]
) -> AsyncIterator[list[tuple[int, Record]]]:
    """Each partition's records in offset order, merged by timestamp: a record is released
    once every partition not read to its end has a record buffered (none can come earlier).
    Records of one millisecond (a producer's batch; many events when a simulator runs days in
    seconds) go in `occurred_at` order, so the replay's clock need not pass an event's time
    before that event is applied."""
    buffers: dict[TopicPartition, list[tuple[int, Record]]] = {tp: [] for tp in todo}
    cursor = {tp: 0 for tp in todo}
    done: set[TopicPartition] = set()
    heap: list[tuple[int, float, int, TopicPartition]] = []  # (timestamp, occurred, seq, tp)
    seq = 0
    out: list[tuple[int, Record]] = []
    while True:
        starving = [tp for tp in todo if tp not in done and cursor[tp] >= len(buffers[tp])]
        for tp in starving:
            if await consumer.position(tp) >= ends[tp]:
                done.add(tp)  # read to its end: waiting for more would only time out
        starving = [tp for tp in starving if tp not in done]
        if starving:
            fetched = await consumer.getmany(*starving, timeout_ms=FETCH_TIMEOUT_MS)
            for tp in starving:
                kept = [
                    (m.timestamp, Record(tp.topic, tp.partition, m.key, m.value))
                    for m in fetched.get(tp, [])
                    if m.offset < ends[tp]
                ]
                buffers[tp], cursor[tp] = kept, 0
                if kept:
                    heapq.heappush(heap, (*_order(kept[0]), seq := seq + 1, tp))
            continue
        if not heap:
            break
        _, _, _, tp = heapq.heappop(heap)
        i = cursor[tp]
        out.append(buffers[tp][i])
        cursor[tp] = i + 1
        if i + 1 < len(buffers[tp]):
            heapq.heappush(heap, (*_order(buffers[tp][i + 1]), seq := seq + 1, tp))
        if len(out) >= BATCH:
            yield out
            out = []
    if out:
        yield out


_OCCURRED = b'"occurred_at":"'


def _order(item: tuple[int, Record]) -> tuple[int, float]:
    """(timestamp in ms, occurred_at in seconds): the record's place in the merge. A record
    without a readable `occurred_at` (bad input, dead-lettered by the replay as by the
    workers) goes by its timestamp."""
    millis, record = item
    value = record.value or b""
    start = value.find(_OCCURRED)
    if start >= 0:
        start += len(_OCCURRED)
        end = value.find(b'"', start)
        try:
            when = dt.datetime.fromisoformat(value[start:end].decode())
        except (ValueError, UnicodeDecodeError):
            pass
        else:
            if when.tzinfo is not None:
                return millis, when.timestamp()
    return millis, millis / 1000.0
