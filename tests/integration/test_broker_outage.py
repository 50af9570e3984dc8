"""The Kafka broker stopped for 20 s mid-stream and started again (issue 7): the worker
reconnects and carries on; nothing is lost and nothing doubled. (Redis stopped and restarted
mid-stream is `test_scoring.py::test_redis_view_answers_leads_and_catches_up_after_a_redis_restart`.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from tests.integration.kafka_io import caught_up, consume, produce
from tests.integration.waits import eventually
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.devstack.kafka_broker import KafkaBroker
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: it-outage
scheduler: {tick_interval: 200ms}
triggers:
  - {id: pulse, stage: proposal, every: 2s, catch_up: all, action: {type: ping}}
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 30}]
"""
OPPS = 8


def body(**fields: Any) -> bytes:
    return orjson.dumps({"occurred_at": dt.datetime.now(dt.UTC).isoformat(), **fields})


def test_broker_stopped_for_20_s_then_back(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    broker = KafkaBroker(tmp_path / "kafka")  # its own broker: the session's stays untouched
    broker.start()
    try:
        (tmp_path / "rules.yaml").write_text(RULES)
        env = {
            **worker_env,
            "DEALSTREAM_BROKERS": broker.bootstrap,
            "DEALSTREAM_RULES_FILE": str(tmp_path / "rules.yaml"),
        }
        settings = Settings.from_env(env)
        asyncio.run(create_topics(settings))
        workers.append(worker := WorkerProcess(env, tmp_path / "w.log").start())
        t0 = time.time()
        opps = [
            (f"o{i}".encode(), body(event_id=f"o{i}", type="opportunity.upserted",
                                    opportunity_id=f"o{i}", contact_id=f"c{i}", pipeline_id="sales",
                                    stage_id="proposal", status="open"))
            for i in range(OPPS)
        ]  # fmt: skip
        produce(broker.bootstrap, settings.topic("crm.opportunities"), opps)
        first = [(f"c{i}".encode(), body(event_id=f"d1-{i}", type="engagement.recorded",
                                         contact_id=f"c{i}", kind="demo_request"))
                 for i in range(OPPS)]  # fmt: skip
        produce(broker.bootstrap, settings.topic("crm.engagements"), first)
        caught_up(broker.bootstrap, settings)

        before = worker.log_file.read_text(errors="replace").count("[ERROR]")
        broker.stop()
        time.sleep(20.0)  # this test is about an outage of a given length
        assert worker.running(), worker.tail()
        during = worker.log_file.read_text(errors="replace").count("[ERROR]") - before
        assert during <= 60, f"{during} ERROR lines in a 20 s outage: rate-limit them"
        broker.start()

        second = [(f"c{i}".encode(), body(event_id=f"d2-{i}", type="engagement.recorded",
                                          contact_id=f"c{i}", kind="demo_request"))
                  for i in range(OPPS)]  # fmt: skip
        produce(broker.bootstrap, settings.topic("crm.engagements"), second)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.get("/readyz")[0] != 200:
            time.sleep(0.5)

        def outage_periods_fired() -> bool:
            due = int((time.time() - t0 - 4) // 2)  # the periods due by now (a tick's slack)
            records = consume(broker.bootstrap, settings.topic("crm.trigger-firings"), idle=0.5)
            fired = Counter(orjson.loads(m.value)["opportunity_id"] for m in records)
            return len(fired) == OPPS and min(fired.values()) >= due

        eventually(outage_periods_fired, "the periods due during the outage fired", timeout=60)
        caught_up(broker.bootstrap, settings)
        closed_at = time.time()
        close = [
            (f"o{i}".encode(), body(event_id=f"o{i}-won", type="opportunity.closed",
                                    opportunity_id=f"o{i}", contact_id=f"c{i}", pipeline_id="sales",
                                    stage_id="proposal", status="won"))
            for i in range(OPPS)
        ]  # fmt: skip
        produce(broker.bootstrap, settings.topic("crm.opportunities"), close)
        caught_up(broker.bootstrap, settings)

        def read(topic: str) -> list[dict[str, Any]]:
            records = consume(broker.bootstrap, settings.topic(topic), idle=3.0)
            return [orjson.loads(m.value) for m in records]

        firings = read("crm.trigger-firings")
        assert max(Counter(f["firing_id"] for f in firings).values()) == 1
        by_opp: dict[str, list[int]] = {}
        for f in firings:
            by_opp.setdefault(f["opportunity_id"], []).append(f["period"])
        # catch_up: all — the periods due while the broker was away fire when it is back
        expected = int((closed_at - t0 - 4) // 2)
        for opp, periods in by_opp.items():
            assert sorted(periods) == list(range(1, len(periods) + 1)), (opp, periods)
            assert len(periods) >= expected, (opp, len(periods), expected)
        assert len(by_opp) == OPPS

        scores = read("crm.lead-scores")
        pairs = Counter((s["contact_id"], s["event_id"]) for s in scores)
        assert max(pairs.values()) == 1, pairs
        assert {s["contact_id"]: s["total"] for s in scores} == {f"c{i}": 60.0 for i in range(OPPS)}
        assert worker.running(), worker.tail()
    finally:
        broker.stop()
