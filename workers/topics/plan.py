"""What topics should exist: pure, from the settings and the contract catalog."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalog import INPUT_TOPICS, OUTPUT_TOPICS
from workers.ingest.partitioning import repartition_topic
from workers.settings import Settings
from workers.topics.internal import (
    BUYER_ACTIONS,
    LINKS,
    ORG_FIELDS,
    ORG_MEMBERSHIP,
    ROUTER,
    RULES,
    SALES_READY,
    TICKS,
)

# Internal topics the agents use between themselves, keyed like the tables they feed.
# Ticks are worthless once handled: an hour of retention is plenty.
INTERNAL_TOPICS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (TICKS, (("retention.ms", "3600000"),)),
    (SALES_READY, ()),
    (ORG_MEMBERSHIP, ()),
    (ORG_FIELDS, ()),
    (LINKS, ()),
    (BUYER_ACTIONS, ()),
    # input records a producer put on another partition than murmur2 of their key selects
    *((repartition_topic(t.name), ()) for t in INPUT_TOPICS),
)
# The router is a single writer: its topic has one partition whatever DEALSTREAM_PARTITIONS is.
# The rules topic is read whole by every worker: one partition, compacted (the latest file wins).
SINGLE_PARTITION = {ROUTER, RULES}
COMPACTED_INTERNAL = {RULES}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: tuple[tuple[str, str], ...] = ()


def planned_topics(settings: Settings) -> list[TopicSpec]:
    """Every contract topic (prefixed), with the configured partitions and replication."""
    specs = []
    compact = (("cleanup.policy", "compact"),)
    names: list[tuple[str, tuple[tuple[str, str], ...]]]
    names = [(t.name, compact if t.compacted else ()) for t in INPUT_TOPICS]
    names += [(t.name, compact if t.compacted else ()) for t in OUTPUT_TOPICS]
    names += list(INTERNAL_TOPICS)
    names += [
        (name, compact if name in COMPACTED_INTERNAL else ()) for name in sorted(SINGLE_PARTITION)
    ]
    for name, config in names:
        partitions = 1 if name in SINGLE_PARTITION else settings.partitions
        specs.append(
            TopicSpec(settings.topic(name), partitions, settings.replication_factor, config)
        )
    return specs
