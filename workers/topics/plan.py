"""What topics should exist: pure, from the settings and the contract catalog."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.catalog import INPUT_TOPICS, OUTPUT_TOPICS
from workers.settings import Settings

# Internal topics the agents use between themselves, keyed like the tables they feed.
INTERNAL_TOPICS: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: tuple[tuple[str, str], ...] = ()


def planned_topics(settings: Settings) -> list[TopicSpec]:
    """Every contract topic (prefixed), with the configured partitions and replication."""
    specs = []
    names = [(t.name, t.compacted) for t in INPUT_TOPICS]
    names += [(t.name, t.compacted) for t in OUTPUT_TOPICS]
    names += list(INTERNAL_TOPICS)
    for name, compacted in names:
        config = (("cleanup.policy", "compact"),) if compacted else ()
        specs.append(
            TopicSpec(
                settings.topic(name), settings.partitions, settings.replication_factor, config
            )
        )
    return specs
