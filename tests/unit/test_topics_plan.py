from __future__ import annotations

from schemas.catalog import INPUT_TOPICS, OUTPUT_TOPICS
from workers.settings import Settings
from workers.topics.plan import planned_topics


def test_every_contract_topic_is_planned_with_prefix_partitions_and_compaction() -> None:
    settings = Settings.from_env({"DEALSTREAM_TOPIC_PREFIX": "t.", "DEALSTREAM_PARTITIONS": "6"})
    specs = {s.name: s for s in planned_topics(settings)}
    for topic in (*INPUT_TOPICS, *OUTPUT_TOPICS):
        assert f"t.{topic.name}" in specs
    single = {"t.dealstream.router", "t.dealstream.rules"}
    assert all(s.partitions == 6 for name, s in specs.items() if name not in single)
    assert specs["t.dealstream.router"].partitions == 1  # the router is a single writer
    assert specs["t.dealstream.rules"].partitions == 1  # read whole by every worker
    assert dict(specs["t.dealstream.rules"].config) == {"cleanup.policy": "compact"}
    assert dict(specs["t.crm.reps"].config) == {"cleanup.policy": "compact"}
    assert specs["t.crm.contacts"].config == ()
