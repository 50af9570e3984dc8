"""Any producer's partitioner (issue 16.6): records put on partitions by CRC32 of their key
(librdkafka's default: kcat, confluent-kafka, Go, .NET, Node clients) are counted and moved to
the partition murmur2 selects, so owner sync and the organization join work as with Kafka's
default partitioner."""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from pathlib import Path
from typing import Any

import orjson

from tests.integration.kafka_io import consume, produce_to
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.ingest.partitioning import expected_partition
from workers.settings import Settings
from workers.topics.admin import create_topics

PARTITIONS = 4


def crc32_partition(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS  # librdkafka's "consistent" partitioner


def record(key: str, **fields: Any) -> tuple[int, bytes, bytes]:
    value = orjson.dumps({"occurred_at": dt.datetime.now(dt.UTC).isoformat(), **fields})
    return crc32_partition(key.encode()), key.encode(), value


def test_owner_sync_and_the_organization_join_work_with_a_crc32_producer(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    settings = Settings.from_env(worker_env)
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(worker_env, tmp_path / "w.log").start()
    workers.append(worker)
    boot = stack.kafka.bootstrap
    # keys whose CRC32 partition is not their murmur2 partition: the case that broke
    contacts = [f"k{n}" for n in range(40)]
    contacts = [
        c
        for c in contacts
        if crc32_partition(c.encode()) != expected_partition(c.encode(), PARTITIONS)
    ][:3]
    assert len(contacts) == 3
    org = next(
        f"org{n}"
        for n in range(40)
        if crc32_partition(f"org{n}".encode()) != expected_partition(f"org{n}".encode(), PARTITIONS)
    )

    produce_to(boot, settings.topic("crm.organizations"), [
        record(org, event_id="g1", type="organization.upserted", organization_id=org,
               fields={"industry": "manufacturing"}),
    ])  # fmt: skip
    produce_to(boot, settings.topic("crm.contacts"), [
        record(c, event_id=f"u1-{c}", type="contact.upserted", contact_id=c, owner_id="alice",
               organization_id=org)
        for c in contacts
    ])  # fmt: skip
    opportunities = [f"op-{c}" for c in contacts]
    produce_to(boot, settings.topic("crm.opportunities"), [
        record(o, event_id=f"o-{o}", type="opportunity.upserted", opportunity_id=o,
               contact_id=c, pipeline_id="sales", stage_id="proposal", status="open",
               owner_id="alice")
        for o, c in zip(opportunities, contacts, strict=True)
    ])  # fmt: skip

    # the index contact → opportunities must be in place before the owner moves: wait for the
    # organization join to show in every contact's score (all inputs handled by then)
    def joined() -> dict[str, float]:
        scores = [
            orjson.loads(m.value)
            for m in consume(boot, settings.topic("crm.lead-scores"), idle=2.0)
        ]
        return {
            s["contact_id"]: dict((b["rule_id"], b["points"]) for b in s["breakdown"]).get(
                "industry-manufacturing", 0
            )
            for s in scores
        }

    for _ in range(20):  # each look waits for 2 s of silence on the topic
        if joined() == dict.fromkeys(contacts, 20.0):
            break
    assert joined() == dict.fromkeys(contacts, 20.0)

    produce_to(boot, settings.topic("crm.contacts"), [
        record(c, event_id=f"u2-{c}", type="contact.upserted", contact_id=c, owner_id="bob",
               organization_id=org)
        for c in contacts
    ])  # fmt: skip
    changes = [
        orjson.loads(m.value)
        for m in consume(boot, settings.topic("crm.owner-changes"), expect=3, timeout=60)
    ]
    assert sorted(
        (c["opportunity_id"], c["old_owner_id"], c["new_owner_id"]) for c in changes
    ) == sorted((o, "alice", "bob") for o in opportunities)
    moved = sum(worker.metric("dealstream_input_mispartitioned_total", topic=t)
                for t in ("crm.contacts", "crm.organizations", "crm.opportunities"))  # fmt: skip
    assert moved == 1 + 2 * len(contacts) + len(opportunities) - sum(
        crc32_partition(o.encode()) == expected_partition(o.encode(), PARTITIONS)
        for o in opportunities
    )
