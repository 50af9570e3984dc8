"""Producing to and reading from the real local broker, for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from schemas.catalog import INPUT_TOPICS
from workers.settings import Settings
from workers.topics.internal import ROUTER, TICKS
from workers.topics.plan import INTERNAL_TOPICS


def produce(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", max_request_size=4_000_000
        )
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(run())


def produce_to(
    bootstrap: str, topic: str, records: Sequence[tuple[int, bytes | None, bytes]]
) -> None:
    """Each (partition, key, value) to the partition given: a producer with its own
    partitioner (librdkafka's CRC32, say)."""

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for partition, key, value in records:
                await producer.send_and_wait(topic, value, key=key, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(run())


def consume(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout: float = 30.0,
    idle: float = 3.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic` from the start: until `expect` arrived, or `idle` s of silence."""

    async def run() -> list[ConsumerRecord[bytes, bytes]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        out: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = loop.time()
        try:
            while loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=300)
                got = [m for msgs in batch.values() for m in msgs]
                out.extend(got)
                now = loop.time()
                if got:
                    quiet_since = now
                if expect is not None and len(out) >= expect and now - quiet_since >= 0.5:
                    break
                if expect is None and now - quiet_since >= idle:
                    break
        finally:
            await consumer.stop()
        return out

    return asyncio.run(run())


def produce_many(bootstrap: str, records: Sequence[tuple[str, bytes, bytes]]) -> None:
    """(topic, key, value) records, batched by the producer, all confirmed before returning."""

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=262144
        )
        await producer.start()
        try:
            futures = [await producer.send(t, v, key=k) for t, k, v in records]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


def group_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Records of `topics` the consumer group has not committed yet (all partitions)."""
    return sum(lag_by_partition(bootstrap, group, topics).values())


def lag_by_partition(bootstrap: str, group: str, topics: Sequence[str]) -> dict[str, int]:
    """ "topic:partition" -> records the consumer group has not committed yet."""

    async def run() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            tps = [
                TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
            ]
            if len(tps) < len(topics):
                await consumer._client.set_topics(list(topics))
                tps = [
                    TopicPartition(t, p)
                    for t in topics
                    for p in consumer.partitions_for_topic(t) or ()
                ]
            ends = await consumer.end_offsets(tps) if tps else {}
            lag = {}
            for tp, end in ends.items():
                meta = committed.get(tp)
                lag[f"{tp.topic}:{tp.partition}"] = end - (
                    meta.offset if meta is not None and meta.offset >= 0 else 0
                )
            return lag
        finally:
            await consumer.stop()
            await admin.close()

    return asyncio.run(run())


def caught_up(bootstrap: str, settings: Settings, *, timeout: float = 60.0) -> None:
    """Wait for the fact "caught up": the workers' group has committed every record of every
    input and internal topic (the router's topic, which its ticks keep feeding, within a few).
    A batch's outputs are confirmed before its inputs are committed, so what an input caused on
    an internal topic is already counted there when the input is."""
    names = [t.name for t in INPUT_TOPICS] + [name for name, _ in INTERNAL_TOPICS]
    topics = [settings.topic(n) for n in names if n != TICKS]
    router = [settings.topic(ROUTER)]
    deadline = time.monotonic() + timeout
    while True:
        lags = lag_by_partition(bootstrap, settings.app_id, topics)
        behind = {tp: n for tp, n in lags.items() if n}
        if not behind and group_lag(bootstrap, settings.app_id, router) <= 3:
            return
        assert time.monotonic() < deadline, f"not caught up after {timeout:.0f} s: {behind}"
        time.sleep(0.2)
