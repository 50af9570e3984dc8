"""`dealstream replay --from TIMESTAMP`: re-process the inputs from a point in time.

It moves the deployment's committed offsets (the consumer group `DEALSTREAM_APP_ID`) on every
input topic back to the first message at or after TIMESTAMP; the workers, started again,
re-process from there. Every handler is idempotent — events are deduplicated by `event_id`,
states ignore what they already applied, and every output that was published is recorded
(or read back) before it could be asked again — so nothing is emitted twice. The workers must
be stopped: Kafka refuses to move the offsets of a group with members.
"""

from __future__ import annotations

import datetime as dt

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.catalog import INPUT_TOPICS
from workers.clock import parse_instant
from workers.kafka_client import client_options, started
from workers.settings import Settings


class ReplayError(RuntimeError):
    pass


def parse_when(text: str) -> dt.datetime:
    try:
        return parse_instant(text)
    except ValueError:
        raise ReplayError(
            f"--from {text!r}: give an ISO 8601 time, e.g. 2026-11-23T09:00Z"
        ) from None


async def group_members(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(**client_options(settings))
    async with started(admin):
        described = await admin.describe_consumer_groups([settings.app_id])
        groups = described[0].to_object()["groups"] if described else []
        return sum(len(g["members"]) for g in groups)


async def replay(
    settings: Settings, when: dt.datetime, topics: list[str] | None = None
) -> dict[str, int]:
    """Move the group's offsets; returns how many messages each topic will re-process."""
    members = await group_members(settings)
    if members:
        raise ReplayError(f"{members} worker(s) of {settings.app_id} are running: stop them first")
    names = topics or [t.name for t in INPUT_TOPICS]
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=settings.app_id,
                                enable_auto_commit=False)  # fmt: skip
    async with started(consumer):
        tps = []
        for name in names:
            try:  # the topic's metadata, so that its partitions are known
                partitions = await consumer._client._wait_on_metadata(settings.topic(name))
            except KafkaError:
                continue
            tps += [TopicPartition(settings.topic(name), p) for p in sorted(partitions)]
        if not tps:
            raise ReplayError("no input topic found: is DEALSTREAM_TOPIC_PREFIX right?")
        consumer.assign(tps)
        stamp = int(when.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, stamp))
        ends = await consumer.end_offsets(tps)
        committed = {tp: await consumer.committed(tp) for tp in tps}
        target: dict[TopicPartition, OffsetAndMetadata] = {}
        again: dict[str, int] = {}
        for tp in tps:
            offset = found[tp].offset if found[tp] is not None else ends[tp]
            current = committed[tp] if committed[tp] is not None else ends[tp]
            if offset < current:
                target[tp] = OffsetAndMetadata(offset, "dealstream replay")
                name = tp.topic.removeprefix(settings.topic_prefix)
                again[name] = again.get(name, 0) + current - offset
        if target:
            await consumer.commit(target)
        return again
