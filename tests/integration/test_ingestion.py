"""Issue 2's done-when: one valid event processed, ten and more invalid ones dead-lettered with
distinct reasons, the worker still running, a replayed duplicate ignored."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import orjson

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics

CONTACT = {
    "event_id": "evt-1",
    "type": "contact.upserted",
    "occurred_at": "2026-11-02T09:30:00+01:00",
    "contact_id": "c-1",
    "fields": {"city": "Greenville", "lead_status": "Hot"},
}
OPPORTUNITY = {
    "event_id": "evt-o",
    "type": "opportunity.upserted",
    "occurred_at": "2026-11-02T09:30:00Z",
    "opportunity_id": "o-1",
    "contact_id": "c-1",
    "pipeline_id": "sales",
    "stage_id": "qualification",
    "status": "open",
}


def body(base: dict[str, object], **changes: object) -> bytes:
    return orjson.dumps({**base, **changes})


INVALID: list[tuple[str, bytes | None, bytes, str]] = [
    ("crm.contacts", b"c-1", b"\xc3\x28{}", "invalid_encoding"),
    ("crm.contacts", b"c-1", b'{"event_id": "x",', "invalid_json"),
    ("crm.contacts", b"c-1", b'["not", "an", "object"]', "not_an_object"),
    (
        "crm.contacts",
        b"c-1",
        orjson.dumps(
            {"event_id": "e", "type": "contact.upserted", "occurred_at": "2026-11-02T09:30:00Z"}
        ),
        "missing_field",
    ),
    ("crm.contacts", b"c-1", body(CONTACT, event_id="e-wt", fields="Hot"), "wrong_type"),
    (
        "crm.contacts",
        b"c-1",
        body(CONTACT, event_id="e-ut", type="contact.merged"),
        "unknown_event_type",
    ),
    (
        "crm.contacts",
        b"c-1",
        body(CONTACT, event_id="e-sv", schema_version=7),
        "unsupported_schema_version",
    ),
    (
        "crm.contacts",
        b"c-1",
        body(CONTACT, event_id="e-ts", occurred_at="31/12/2026"),
        "bad_timestamp",
    ),
    ("crm.opportunities", b"o-1", body(OPPORTUNITY, amount=-5), "out_of_range"),
    (
        "crm.contacts",
        b"c-1",
        body(CONTACT, event_id="e-big", fields={"bio": "x" * 300_000}),
        "message_too_large",
    ),
    ("crm.contacts", b"c-2", body(CONTACT, event_id="e-key"), "key_mismatch"),
]


def test_valid_processed_invalid_dead_lettered_duplicate_ignored(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    settings = Settings.from_env(worker_env)
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    workers.append(worker)
    boot = stack.kafka.bootstrap

    produce(boot, settings.topic("crm.contacts"), [(b"c-1", body(CONTACT))])
    for topic, key, value, _ in INVALID:
        produce(boot, settings.topic(topic), [(key, value)])
    produce(boot, settings.topic("crm.contacts"), [(b"c-1", body(CONTACT))])  # the duplicate

    letters = consume(boot, settings.topic("crm.dead-letters"), expect=len(INVALID), timeout=60)
    decoded = [orjson.loads(m.value) for m in letters]
    codes = [d["error"]["code"] for d in decoded]
    assert sorted(codes) == sorted(code for *_, code in INVALID)
    assert len(set(codes)) == len(INVALID) >= 10
    originals = {(t, v) for t, _, v, _ in INVALID}
    for letter in decoded:
        assert (letter["topic"], base64.b64decode(letter["value"])) in originals
        assert letter["error"]["message"]
        assert letter["emitted_at"]
    wrong = next(d for d in decoded if d["error"]["code"] == "wrong_type")
    assert wrong["error"]["path"] == "$.fields"

    assert worker.running()
    assert worker.metric("dealstream_events_valid_total", topic="crm.contacts") == 1
    assert worker.metric("dealstream_duplicate_events_total", topic="crm.contacts") == 1
    assert (
        worker.metric("dealstream_dead_letters_total", topic="crm.contacts", code="bad_timestamp")
        == 1
    )
    assert worker.get("/healthz")[0] == 200

    assert worker.terminate(timeout=30) == 0


def pad(value: bytes, size: int) -> bytes:
    """The JSON object `value` grown to exactly `size` bytes with a `bio` field."""
    head = value[:-1] + b', "fields": {"bio": "'
    return head + b"x" * (size - len(head) - 3) + b'"}}'


def test_oversize_inputs_of_any_size_the_broker_accepts_are_dead_lettered_once_delivered(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Issue 16.2: 300 KB, 1 MB and the broker's maximum (2 MiB less the batch framing): each
    is dead-lettered (whole when it fits, else a prefix with size and sha256), counted after
    delivery, and the next event of the partition is processed."""
    import hashlib

    settings = Settings.from_env(worker_env)
    asyncio.run(create_topics(settings))
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    workers.append(worker)
    boot = stack.kafka.bootstrap
    sizes = [300_000, 1_000_000, 2_097_152 - 1_024]
    values = [pad(body(CONTACT, event_id=f"e-{n}"), n) for n in sizes]
    produce(boot, settings.topic("crm.contacts"), [(b"c-1", v) for v in values])
    produce(boot, settings.topic("crm.contacts"), [(b"c-1", body(CONTACT))])  # the next event

    letters = consume(boot, settings.topic("crm.dead-letters"), expect=3, timeout=60)
    decoded = sorted((orjson.loads(m.value) for m in letters), key=lambda d: d["value_size"])
    assert [d["value_size"] for d in decoded] == sizes
    assert [d["value_truncated"] for d in decoded] == [False, True, True]
    for letter, value in zip(decoded, values, strict=True):
        assert letter["error"]["code"] == "message_too_large"
        assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
        assert value.startswith(base64.b64decode(letter["value"]))
    assert base64.b64decode(decoded[0]["value"]) == values[0]
    scores = consume(boot, settings.topic("crm.lead-scores"), expect=1, timeout=60)
    assert [orjson.loads(m.value)["contact_id"] for m in scores] == ["c-1"]
    assert (
        worker.metric(
            "dealstream_dead_letters_total", topic="crm.contacts", code="message_too_large"
        )
        == 3
    )
    assert worker.running()
