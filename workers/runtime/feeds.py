"""Whole polls for the engine's agents, straight from Faust's consumer.

Faust hands an agent one message at a time: per message its fetch loop starts two tasks
(`wait_first`), its conductor takes a lock, decodes the message into an event and queues it.
That costs more than the engine's work on the event (benchmarks/RESULTS.md: a bare Faust agent
tops out near 13,000 events/s on this machine, raw aiokafka near 450,000). The engine wants
whole polls anyway, so for the topics its agents read (`Feeds.register`) the consumer's fetch
loop (`batching_consumer`) appends each partition's records of a poll to that topic's `Feed`
in one step; every other topic keeps Faust's path, message by message.

Changelog records of the worker's tables go, a partition's fetch at a time, to the table
recovery (`SeekFirstRecovery.apply_fetched`), which writes them to the store in one batch.

Everything else stays Faust's: subscriptions, assignment, the read offsets behind the lag
metric, the gaps and commits (`ack_all` keeps Faust's acknowledgement bookkeeping), seeks to
the committed offset after a rebalance. A poll fetched before a rebalance is dropped here without
an acknowledgement, so it comes again from the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from typing import Any, cast

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

log = logging.getLogger(__name__)

FEED_LIMIT = 20_000  # records buffered per topic before the fetch loop waits


class Arrival:
    """One record of a poll as the engine's agents see it: a Faust event's `message` (it is its
    own), without the Faust objects that cost more than the engine's work on it."""

    __slots__ = ("acked", "decoded", "generation_id", "headers", "key", "offset", "partition",
                 "timestamp", "topic", "tp", "value")  # fmt: skip

    def __init__(self, tp: Any, record: Any, generation_id: int, decoded: Any = None) -> None:
        self.tp = tp
        self.topic: str = record.topic
        self.partition: int = record.partition
        self.offset: int = record.offset
        self.key: bytes | None = record.key
        self.value: bytes | None = record.value
        self.headers = record.headers
        stamp = record.timestamp  # milliseconds; Faust's messages hold seconds
        self.timestamp: float | None = None if stamp is None else stamp / 1000.0
        self.generation_id = generation_id
        self.acked = False
        self.decoded = decoded  # the value already decoded by the input's decoder (a backtest)

    @property
    def message(self) -> Arrival:
        return self


class Feed:
    """The polls of one topic, in fetch order, waiting for the topic's one agent."""

    def __init__(self, topic: str, limit: int = FEED_LIMIT) -> None:
        self.topic = topic
        self.limit = limit
        self._polls: deque[tuple[int, list[Any]]] = deque()  # (generation, messages)
        self._count = 0
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    @property
    def full(self) -> bool:
        return self._count >= self.limit

    @property
    def empty(self) -> bool:
        return not self._polls

    def put(self, generation: int, messages: list[Any]) -> None:
        self._polls.append((generation, messages))
        self._count += len(messages)
        self._ready.set()
        if self.full:
            self._space.clear()

    async def space(self) -> None:
        await self._space.wait()

    def take(self, max_records: int, generation: int, flowing: bool) -> list[Any]:
        """Up to `max_records` buffered messages (whole polls; the first one even when it is
        larger), leaving out those of another consumer generation or fetched while the flow
        was stopped for a rebalance: they are never acknowledged."""
        taken: list[Any] = []
        while self._polls and (not taken or len(taken) + len(self._polls[0][1]) <= max_records):
            poll_generation, messages = self._polls.popleft()
            self._count -= len(messages)
            if flowing and poll_generation == generation:
                taken.extend(messages)
        if not self._polls:
            self._ready.clear()
        if not self.full:
            self._space.set()
        return taken

    async def wait(self) -> None:
        await self._ready.wait()


class Feeds:
    """The topics whose polls go to feeds (registered before the consumer starts)."""

    def __init__(self) -> None:
        self.by_topic: dict[str, Feed] = {}

    def register(self, topic: str) -> Feed:
        if topic in self.by_topic:
            raise ValueError(f"topic {topic!r} already has a feed (one agent per topic)")
        feed = self.by_topic[topic] = Feed(topic)
        return feed

    async def batches(self, app: Any, feed: Feed, max_records: int) -> AsyncIterator[list[Arrival]]:
        """The feed's polls as batches of arrivals, forever. Acknowledge them with `ack_all`."""
        while True:
            await feed.wait()
            arrivals = feed.take(
                max_records, app.consumer_generation_id, app.flow_control.is_active()
            )
            if arrivals:
                yield arrivals


def ack_all(consumer: Any, arrivals: Sequence[Arrival]) -> None:
    """Faust's `Consumer.ack` for a whole batch: the same bookkeeping, under its lock once."""
    with ack_lock:
        committed_offsets = consumer._committed_offset
        for arrival in arrivals:
            if arrival.acked:
                continue
            arrival.acked = True
            tp, offset = arrival.tp, arrival.offset
            committed = committed_offsets[tp]
            if committed is None or offset >= committed:
                index = consumer._acked_index[tp]
                if offset not in index:
                    index.add(offset)
                    consumer._acked[tp].append(offset)
                    consumer._n_acked += 1
        notify(consumer._waiting_for_ack)


def fetch_position(consumer: Any, tp: Any) -> int | None:
    """The aiokafka consumer's fetch position of `tp` (None: unknown, or not assigned)."""
    try:
        client = consumer._thread._ensure_consumer()
        state = client._subscriptions.subscription.assignment.state_value(tp)
    except Exception:  # no consumer thread (a test double), or not assigned any more
        return None
    position = getattr(state, "_position", None)
    return position if isinstance(position, int) else None


def drop_stale(consumer: Any, records: Mapping[Any, list[Any]]) -> dict[Any, list[Any]]:
    """The poll without the partitions sought back over their records since they were fetched.

    The consumer's thread fetches while the agents' loop runs the rebalance callbacks: a seek to
    the committed offsets can land after a fetch took a partition's records and before the loop
    handles them. Handing them over then marks the records between the committed offset and
    them as a gap (acknowledged, committed past, never processed), and seeking back to them
    (`refetch_inactive`) skips those records for good. Records whose partition's position is
    no longer past them are dropped instead: the position fetches them again, in order."""
    fresh: dict[Any, list[Any]] = {}
    for tp, batch in records.items():
        position = fetch_position(consumer, tp) if batch else None
        if position is not None and position <= batch[-1].offset:
            log.info("%s: %d records fetched before a seek to %d: fetched again from there",
                     tp, len(batch), position)  # fmt: skip
            continue
        fresh[tp] = batch
    return fresh


async def refetch_inactive(
    consumer: Any, records: Mapping[Any, Sequence[Any]], active: Any
) -> None:
    """Records of a partition that is not active (paused) are not handed over, as in Faust;
    but the fetch position has moved past them, so unless the partition is sought back they
    are never fetched again. A partition resumed while its fetch was in flight (a recovery
    ends: seek, then resume) lost its first uncommitted records that way: the committed offset
    never moved again. Seek such a partition back to its first record, while it is assigned."""
    if active is None:
        return
    assigned = consumer.assignment()
    for tp, batch in records.items():
        inactive = tp not in active and tp not in consumer._buffered_partitions
        position = fetch_position(consumer, tp) if batch else None
        if position is not None and position <= batch[-1].offset:
            continue  # sought back over them meanwhile (`drop_stale`): fetched again anyway
        if batch and inactive and tp in assigned:
            try:
                await consumer.seek(tp, batch[0].offset)
            except Exception as error:  # revoked meanwhile: its owner reads it
                log.warning("%s: could not seek back to %d: %r", tp, batch[0].offset, error)


def never_committed(committed: Mapping[Any, int | None], changelogs: Set[str]) -> list[Any]:
    """The stream partitions the group has no commit for (or a commit at 0): aiokafka's seek to
    the committed offsets leaves them where they are (`if offset and offset > 0`), which after
    a poll dropped for a rebalance is past records never handed over. Changelog partitions are
    the table recovery's to place."""
    return sorted(
        (tp for tp, offset in committed.items()
         if (offset is None or offset <= 0) and tp.topic not in changelogs),
        key=lambda tp: (tp.topic, tp.partition),
    )  # fmt: skip


def batching_consumer(
    feeds: Feeds, settle: Callable[[], Awaitable[None]]
) -> type[AIOKafkaFaustConsumer]:
    """Faust's aiokafka consumer, whose fetch loop hands whole polls of `feeds`' topics over.

    `settle` is awaited where Faust waits for its agents' messages to be acknowledged (as
    partitions are revoked, and as the worker stops), before it flushes the producer and
    rejoins or leaves the group: the feeds' batches are not Faust's messages."""

    class BatchingConsumer(AIOKafkaFaustConsumer):
        async def seek_to_committed(self) -> Mapping[Any, int]:  # pragma: no cover - Kafka
            """Faust's seek to the committed offsets (every rebalance, and while the flow is
            stopped), with the partitions the group never committed sent back to their first
            retained record, where a first assignment starts them (the reset policy is
            earliest): otherwise a poll dropped meanwhile is never read again."""
            committed = await super().seek_to_committed()
            changelogs = cast(Any, self.app.tables).changelog_topics
            log.info("stream partitions sought to their commits: %s", ", ".join(
                f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in sorted(
                    committed.items(), key=lambda item: (item[0].topic, item[0].partition))
                if tp.topic not in changelogs))  # fmt: skip
            for tp in never_committed(committed, changelogs):
                try:  # offset 0; deleted by retention, the reset policy finds the first one
                    await self._seek(tp, 0)
                except Exception as error:  # revoked meanwhile: the stall guard backs this up
                    log.warning("could not seek %s to its first record: %r", tp, error)
            return committed

        async def wait_empty(self) -> None:
            """Faust's wait for the messages its agents started, after the feeds' batches."""
            await settle()
            await super().wait_empty()

        async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Kafka
            try:
                while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                    await self._drain_once()
            except self.consumer_stopped_errors:
                if self.transport.app.should_stop:
                    log.info("Broker stopped consumer, shutting down...")
                    return
                raise
            except asyncio.CancelledError:
                if self.transport.app.should_stop:
                    return
                raise
            except Exception as exc:
                log.exception("Drain messages raised: %r", exc)
                raise

        async def _drain_once(self) -> None:  # pragma: no cover - Kafka
            """One poll: what Faust's `getmany` + `_drain_messages` do, but a feed's records
            of a partition are handed over in one step."""
            records, active = await self._wait_next_records(1.0)
            await asyncio.sleep(0)
            if records is None or self.should_stop:
                return
            if not self.flow_active:
                try:
                    await self.perform_seek()
                except Exception as error:
                    log.warning("exception performing seek when flow not active %r", error)
                return
            generation = self.app.consumer_generation_id
            others: dict[Any, list[Any]] = {}
            polled = drop_stale(self, records)
            await refetch_inactive(self, polled, active)
            recovery: Any = cast(Any, self.app.tables).recovery
            for tp, batch in polled.items():
                if active is not None and tp not in active and tp not in self._buffered_partitions:
                    continue
                if recovery.handles(tp):
                    if self._restored(recovery, tp, batch):
                        continue
                    others[tp] = batch
                    continue
                feed = feeds.by_topic.get(tp.topic)
                if feed is None:
                    others[tp] = batch
                    continue
                if not self._fresh(generation):
                    return
                await self._feed(feed, tp, batch, generation)
            if others:
                await self._one_by_one(others, generation)
            if self._commit_every is not None and self._n_acked >= self._commit_every:
                self._n_acked = 0
                await self.commit()

        def _restored(self, recovery: Any, tp: Any, batch: list[Any]) -> bool:
            """A changelog partition's fetch, written to its table's store in one step."""
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if not batch:
                return True
            if not recovery.apply_fetched(tp, batch):
                return False
            self._read_offset[tp] = batch[-1].offset
            return True

        def _fresh(self, generation: int) -> bool:
            return self.flow_active and self.app.consumer_generation_id == generation

        async def _feed(self, feed: Feed, tp: Any, batch: list[Any], generation: int) -> None:
            read = self._read_offset.get(tp)
            acks = self.app.topics.acks_enabled_for(tp.topic)
            messages: list[Arrival] = []
            for record in batch:
                offset = record.offset
                if read is not None and offset < read:
                    continue  # handed over before (Faust drops it too)
                if read and offset - read > 1 and acks:
                    log.warning("%s[%d]: records %d..%d acknowledged as a gap (never handed "
                                "over)", tp.topic, tp.partition, read + 1, offset - 1)  # fmt: skip
                    await self._add_gap(tp, read + 1, offset)
                if not messages and (read is None or offset != read + 1):
                    log.info("%s[%d]: records handed over from %d (read %s, generation %d)",
                             tp.topic, tp.partition, offset, read, generation)  # fmt: skip
                messages.append(Arrival(tp, record, generation))
                read = offset
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if not messages:
                return
            while feed.full:
                await self.wait_first(feed.space(), self.suspend_flow.wait())
                if not self._fresh(generation):
                    return
            feed.put(generation, messages)
            self._read_offset[tp] = messages[-1].offset

        async def _one_by_one(self, records: dict[Any, list[Any]], generation: int) -> None:
            """Faust's own path for every other topic (round robin across partitions)."""
            callback = self.callback
            for tp, record in self.scheduler.iterate(records):
                if not self._fresh(generation):
                    return
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                message = self._to_message(tp, record)
                offset = message.offset
                read = self._read_offset.get(tp)
                if read is not None and offset < read:
                    continue
                if read and offset - read > 1 and self.app.topics.acks_enabled_for(tp.topic):
                    await self._add_gap(tp, read + 1, offset)
                await self.wait_first(callback(message), self.suspend_flow.wait())
                self._read_offset[tp] = offset

    return BatchingConsumer
