"""Reading back what this worker's partitions published since a checkpoint.

Outputs are sent, confirmed by the broker, and only then marked in a table; a crash between
the two leaves delivered outputs without marks. Before a partition is used again, the outputs
after its checkpoint are read back and their marks restored, so nothing is sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from workers.kafka_client import client_options
from workers.settings import Settings


class ReadBack:
    """One unattached consumer shared by a runtime's read-backs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._reader: AIOKafkaConsumer | None = None
        self._starting = asyncio.Lock()

    async def reader(self) -> AIOKafkaConsumer:
        """The started reader (two partitions that ask at once share one start: a reader handed
        out before its start finished has no fetcher yet)."""
        async with self._starting:
            if self._reader is None:
                reader = AIOKafkaConsumer(
                    **client_options(self.settings), enable_auto_commit=False, group_id=None
                )
                await reader.start()
                self._reader = reader
        return self._reader

    async def between(
        self, topic: str, partition: int, start: int, end: int
    ) -> AsyncIterator[bytes]:
        """Values of `topic[partition]` at offsets start..end-1."""
        if start >= end:
            return
        reader = await self.reader()
        tp = TopicPartition(topic, partition)
        reader.assign([tp])
        reader.seek(tp, start)
        while (await reader.position(tp)) < end:
            batch = await reader.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if message.offset < end and message.value is not None:
                    yield message.value

    async def partitions(self, topic: str) -> list[int]:
        """The partitions of `topic` (asking the broker when this reader has not seen it)."""
        reader = await self.reader()
        found = reader.partitions_for_topic(topic)
        if not found:  # assign() narrowed the topics the reader asks metadata for
            await reader._client.add_topic(topic)
            found = reader.partitions_for_topic(topic)
        return sorted(found or ())

    async def all_partitions(
        self, topic: str, start_of: Callable[[int], int], ends: dict[str, int]
    ) -> AsyncIterator[bytes]:
        """Values of every partition of `topic` from `start_of(partition)` to the end as of
        now; `ends` receives {partition: last offset} for the next checkpoint."""
        for partition in await self.partitions(topic):
            end = await self.end_offset(topic, partition)
            if end > 0:
                ends[str(partition)] = end - 1
            async for value in self.between(topic, partition, start_of(partition), end):
                yield value

    async def ids_since(
        self,
        topics: Iterable[str],
        start_of: Callable[[str, int], int],
        id_fields: tuple[str, ...],
    ) -> set[str]:
        """The ids (first of `id_fields` present) of every record of every partition of
        `topics` from `start_of(topic, partition)` to the end as of now, all partitions read
        at once."""
        reader = await self.reader()
        tps = [TopicPartition(t, p) for t in topics for p in await self.partitions(t)]
        ids: set[str] = set()
        if not tps:
            return ids
        reader.assign(tps)
        ends = await reader.end_offsets(tps)
        for tp in tps:
            reader.seek(tp, start_of(tp.topic, tp.partition))
        while [tp for tp in tps if await reader.position(tp) < ends[tp]]:
            batch = await reader.getmany(timeout_ms=1000)
            for messages in batch.values():
                for m in messages:
                    if m.offset >= ends[TopicPartition(m.topic, m.partition)]:
                        continue
                    try:
                        body = msgspec.json.decode(m.value or b"")
                        ids.add(next(body[f] for f in id_fields if body.get(f)))
                    except (msgspec.DecodeError, StopIteration, TypeError, AttributeError):
                        continue
        return ids

    async def end_offset(self, topic: str, partition: int) -> int:
        reader = await self.reader()
        tp = TopicPartition(topic, partition)
        return int((await reader.end_offsets([tp]))[tp])
