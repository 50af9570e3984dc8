"""Creating the planned topics on the cluster. Running it twice is harmless."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from workers.kafka_client import client_options, started
from workers.settings import Settings
from workers.topics.errors import TopicError
from workers.topics.plan import TopicSpec, planned_topics


@dataclass
class CreateReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


async def create_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> CreateReport:
    specs = planned_topics(settings) if specs is None else specs
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    async with started(admin):
        existing = set(await admin.list_topics())
        report = CreateReport()
        missing = [s for s in specs if s.name not in existing]
        present = [s for s in specs if s.name in existing]
        if present:
            await _check_partitions(admin, present)
            report.existing = [s.name for s in present]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config)
                    )
                    for s in missing
                ]
            )
            report.created = [s.name for s in missing]
        return report


async def _check_partitions(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> None:
    described = await admin.describe_topics([s.name for s in specs])
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    for spec in specs:
        have = counts.get(spec.name)
        if have is not None and have != spec.partitions:
            raise TopicError(
                f"topic {spec.name} has {have} partitions, DEALSTREAM_PARTITIONS is "
                f"{spec.partitions}: tables must have the partition count of their source topics"
            )
