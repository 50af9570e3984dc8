"""`dealstream replay --from TIMESTAMP` (issue 7): inputs re-processed, no output emitted twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tests.integration.kafka_io import caught_up, consume, produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: it-replay
scheduler: {tick_interval: 200ms}
triggers:
  - {id: pulse, stage: proposal, every: 2s, max_firings: 2, action: {type: ping}}
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 40}, {id: reply, kind: email_reply, points: 5}]
  sales_ready: {threshold: 60, hysteresis: 10}
routing:
  default: {policy: relationship_owner, fallback: round_robin, ignore_hours: true, sla: null}
automation:
  stage_moves: [{id: demo-meeting, when: demo_request, from: [qualification], to: meeting}]
"""
INPUTS = ("crm.reps", "crm.contacts", "crm.opportunities", "crm.engagements")
OUTPUTS = ("crm.trigger-firings", "crm.lead-scores", "crm.lead-assignments", "crm.owner-changes",
           "crm.stage-moves", "crm.rep-notifications", "crm.dead-letters")  # fmt: skip


def stamp(**fields: Any) -> bytes:
    return orjson.dumps({"occurred_at": dt.datetime.now(dt.UTC).isoformat(), **fields})


def test_replay_from_a_time_reprocesses_without_duplicates(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(tmp_path / "rules.yaml")}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    boot = stack.kafka.bootstrap
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    def send(topic: str, items: list[tuple[str, bytes]]) -> None:
        produce(boot, settings.topic(topic), [(k.encode(), v) for k, v in items])

    send("crm.reps", [("r1", stamp(event_id="r1", type="rep.upserted", rep_id="r1",
                                   product_lines=["general"], active=True))])  # fmt: skip
    send("crm.contacts", [(f"c{i}", stamp(event_id=f"u{i}", type="contact.upserted", contact_id=f"c{i}",
                                          owner_id="owner-a" if i % 2 else None))
                          for i in range(6)])  # fmt: skip
    send("crm.opportunities", [(f"o{i}", stamp(event_id=f"o{i}", type="opportunity.upserted",
                                               opportunity_id=f"o{i}", contact_id=f"c{i}",
                                               pipeline_id="sales", stage_id=stage, status="open"))
                               for i, stage in enumerate(["proposal", "qualification"] * 3)])  # fmt: skip
    caught_up(boot, settings)
    kinds = ("demo_request", "demo_request", "email_reply")
    send("crm.engagements", [(f"c{i}", stamp(event_id=f"e{i}-{j}", type="engagement.recorded",
                                             contact_id=f"c{i}", kind=kind))
                             for i in range(6) for j, kind in enumerate(kinds)])  # fmt: skip
    send("crm.contacts", [(f"c{i}", stamp(event_id=f"v{i}", type="contact.upserted", contact_id=f"c{i}",
                                          owner_id="owner-b")) for i in range(0, 6, 3)])  # fmt: skip
    send("crm.contacts", [("c0", b'{"event_id": "bad", "type": "contact.upserted"}')])  # invalid
    time.sleep(6.0)  # both periods of every proposal trigger have fired

    def outputs() -> dict[str, list[dict[str, Any]]]:
        return {t: [orjson.loads(m.value) for m in consume(boot, settings.topic(t), idle=2.0)]
                for t in OUTPUTS}  # fmt: skip

    before = outputs()
    for topic in OUTPUTS:
        assert before[topic], topic  # every kind of output is there to be duplicated, or not
    inputs = {orjson.loads(m.value).get("event_id") for t in INPUTS
              for m in consume(boot, settings.topic(t), idle=1.0)}  # fmt: skip
    for topic, records in before.items():  # issue 16.1: every output names the input it came from
        for record in records:
            assert record["event_id"] in inputs, (topic, record)
    assert first.terminate() == 0

    replayed = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "replay", "--from", since.isoformat()],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert "crm.engagements: 18 messages will be re-processed" in replayed.stdout, replayed.stdout

    workers.append(second := WorkerProcess(env, tmp_path / "w2.log").start())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if second.metric("dealstream_replayed_events_total", topic="crm.engagements") >= 18:
            break
        time.sleep(0.5)
    assert second.metric("dealstream_replayed_events_total", topic="crm.engagements") >= 18
    caught_up(boot, settings)
    after = outputs()
    assert len(before["crm.dead-letters"]) == 1  # the invalid one, not one valid event (16.5)
    # the invalid input came again too: its batch was committed, so the engine skipped it with
    # the other contacts (counted as replayed) and its dead letter was not sent again
    assert second.metric("dealstream_replayed_events_total", topic="crm.contacts") >= 9
    for topic in OUTPUTS:
        assert len(after[topic]) == len(before[topic]), (
            topic,
            len(before[topic]),
            after[topic][len(before[topic]) :],
        )
