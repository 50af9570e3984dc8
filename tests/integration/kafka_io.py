"""Producing to and reading from the real local broker, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord


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
