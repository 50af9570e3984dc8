"""Owner sync on the real local Kafka: two open and one closed opportunity of a contact."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.kafka_io import caught_up, consume, produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics


def body(**fields: Any) -> bytes:
    return orjson.dumps({"occurred_at": dt.datetime.now(dt.UTC).isoformat(), **fields})


@pytest.mark.parametrize(("closed_sync", "expected"), [(False, 2), (True, 3)])
def test_owner_change_moves_open_opportunities_and_closed_ones_only_when_asked(
    stack: LocalStack,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
    closed_sync: bool,
    expected: int,
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"version: it-owners\nowner_sync: {{open: true, closed: {str(closed_sync).lower()}}}\n"
    )
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(rules)}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    workers.append(WorkerProcess(env, tmp_path / "w.log").start())
    boot = stack.kafka.bootstrap
    contact = body(event_id="u1", type="contact.upserted", contact_id="k1", owner_id="alice")
    produce(boot, settings.topic("crm.contacts"), [(b"k1", contact)])
    opps = [
        (
            f"op-{n}".encode(),
            body(
                event_id=f"o{n}",
                type=kind,
                opportunity_id=f"op-{n}",
                contact_id="k1",
                pipeline_id="sales",
                stage_id="proposal",
                status=status,
                owner_id="alice",
            ),
        )
        for n, kind, status in (
            (1, "opportunity.upserted", "open"),
            (2, "opportunity.upserted", "open"),
            (3, "opportunity.closed", "won"),
        )
    ]
    produce(boot, settings.topic("crm.opportunities"), opps)
    caught_up(boot, settings)  # the links reached the contact's partition
    moved = body(event_id="u2", type="contact.upserted", contact_id="k1", owner_id="bob")
    produce(boot, settings.topic("crm.contacts"), [(b"k1", moved)])
    caught_up(boot, settings)
    produce(boot, settings.topic("crm.contacts"), [(b"k1", moved)])  # a replay of the same event
    produce(
        boot,
        settings.topic("crm.contacts"),
        [(b"k1", body(event_id="u3", type="contact.upserted", contact_id="k1", owner_id="bob"))],
    )
    records = [
        orjson.loads(m.value) for m in consume(boot, settings.topic("crm.owner-changes"), idle=3.0)
    ]
    assert len(records) == expected
    assert {(r["old_owner_id"], r["new_owner_id"], r["reason"]) for r in records} == {
        ("alice", "bob", "contact_owner_changed")
    }
    assert ("op-3" in {r["opportunity_id"] for r in records}) is closed_sync
    assert {r["event_id"] for r in records} == {"u2"}
