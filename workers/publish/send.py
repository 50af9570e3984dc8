"""Sending prepared messages with an idempotent, acks=all producer."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from workers.kafka_client import client_options, started
from workers.publish.prepare import Prepared
from workers.settings import Settings


async def send_all(settings: Settings, topic: str, messages: Sequence[Prepared]) -> int:
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    async with started(producer):
        futures = [await producer.send(settings.topic(topic), m.value, key=m.key) for m in messages]
        for future in futures:
            await future
    return len(messages)
