"""Hypothesis-generated garbage against every input topic: the worker never crashes, and every
input that is not a valid event ends in crm.dead-letters with a reason."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import INPUT_TOPICS
from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.ingest.decoder import Decoder
from workers.ingest.errors import Rejection
from workers.settings import Settings
from workers.topics.admin import create_topics

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
payloads = st.one_of(
    st.binary(max_size=2000),  # wrong encodings, random bytes
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=60_000).map(
        lambda t: json.dumps({"event_id": "x", "type": t}).encode()
    ),  # huge strings
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
    st.fixed_dictionaries(
        {
            "event_id": st.text(max_size=5),
            "type": st.sampled_from([t for i in INPUT_TOPICS for t in i.event_types]),
            "occurred_at": st.text(max_size=30),
        },
        optional={"contact_id": json_values},
    ).map(lambda d: json.dumps(d).encode()),
)
samples: list[tuple[str, bytes | None, bytes]] = []


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    st.sampled_from([t.name for t in INPUT_TOPICS]), st.none() | st.binary(max_size=20), payloads
)
def _collect(topic: str, key: bytes | None, value: bytes) -> None:
    samples.append((topic, key, value))


def test_random_inputs_never_crash_a_worker_and_every_bad_one_is_dead_lettered(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    settings_ = Settings.from_env(worker_env)
    asyncio.run(create_topics(settings_))
    workers.append(worker := WorkerProcess(worker_env, tmp_path / "w.log").start())
    _collect()
    bad = 0
    for topic, raw_key, value in samples:
        # a compacted topic refuses records without a key at the broker: nothing reaches us
        key = raw_key if raw_key is not None or topic != "crm.reps" else b"k"
        if (
            isinstance(Decoder.for_topic(topic).decode(key, value), Rejection)
            or len(value) > 262144
        ):
            bad += 1
        produce(stack.kafka.bootstrap, settings_.topic(topic), [(key, value)])
    letters = consume(
        stack.kafka.bootstrap, settings_.topic("crm.dead-letters"), expect=bad, timeout=90
    )
    assert len(letters) >= bad
    codes = [orjson.loads(m.value)["error"]["code"] for m in letters]
    assert all(codes)
    assert "processing_error" not in codes  # no handler tripped over a strange but valid event
    assert worker.running()
    assert worker.get("/healthz")[0] == 200
