"""Live lead scores on the real local Kafka and Redis."""

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
import redis

from tests.integration.kafka_io import caught_up, consume, produce
from tests.integration.waits import eventually
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack, RedisServer
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: it-scoring-1
scheduler: {tick_interval: 200ms}
scoring:
  profile:
    contact:
      - {id: greenville, field: city, in: [Greenville], points: 10}
      - {id: hot, field: lead_status, equals: Hot, points: 20}
      - {id: cold, field: lead_status, equals: Cold, points: -10}
    organization:
      - {id: manufacturing, field: industry, equals: manufacturing, points: 20}
  engagement:
    rules:
      - {id: demo, kind: demo_request, points: 40}
      - {id: ebook, kind: form_submitted, source: ebook, points: 5}
    decay: {kind: half_life, period: 3s}
  stars: {bands: [10, 25, 40, 60, 80]}
  sales_ready: {threshold: 60, hysteresis: 10}
  rescore_interval: 500ms
"""


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def event(event_type: str, n: int, **fields: Any) -> bytes:
    return orjson.dumps(
        {"event_id": f"{event_type}-{n}", "type": event_type, "occurred_at": now(), **fields}
    )


class Scores:
    def __init__(self, stack: LocalStack, settings: Settings) -> None:
        self.boot, self.settings = stack.kafka.bootstrap, settings

    def send(self, topic: str, key: str, value: bytes) -> None:
        produce(self.boot, self.settings.topic(topic), [(key.encode(), value)])

    def scores(self, contact: str, idle: float = 1.5) -> list[dict[str, Any]]:
        records = consume(self.boot, self.settings.topic("crm.lead-scores"), idle=idle)
        return [r for r in (orjson.loads(m.value) for m in records) if r["contact_id"] == contact]

    def signals(self) -> list[dict[str, Any]]:
        return [
            orjson.loads(m.value)
            for m in consume(self.boot, self.settings.topic("dealstream.sales-ready"), idle=1.0)
        ]


def start(
    worker_env: dict[str, str], tmp_path: Path, **extra: str
) -> tuple[dict[str, str], Settings]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(rules), **extra}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    return env, settings


def test_form_creates_and_scores_hot_cold_flips_engagement_qualifies_once_decay_drops(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = start(worker_env, tmp_path)
    workers.append(worker := WorkerProcess(env, tmp_path / "w.log").start())
    s = Scores(stack, settings)

    s.send(
        "crm.form-submissions",
        "c-1",
        event(
            "form.submitted",
            1,
            contact_id="c-1",
            form_id="f",
            source="ebook",
            fields={"city": "Greenville"},
        ),
    )
    first = s.scores("c-1")[0]  # later ones follow as the engagement decays
    assert (first["fit"], first["event_id"]) == (10, "form.submitted-1")
    assert 4 < first["engagement"] <= 5  # 5 points, already decaying (half-life 3 s)
    assert [b["rule_id"] for b in first["breakdown"]] == ["greenville", "ebook"]

    s.send(
        "crm.contacts",
        "c-1",
        event(
            "contact.upserted",
            2,
            contact_id="c-1",
            owner_id="rep-7",
            fields={"city": "Greenville", "lead_status": "Hot"},
        ),
    )
    s.send(
        "crm.contacts",
        "c-2",
        event(
            "contact.upserted",
            3,
            contact_id="c-2",
            fields={"city": "Greenville", "lead_status": "Cold"},
        ),
    )
    hot = next(r for r in s.scores("c-1") if r["event_id"] == "contact.upserted-2")
    cold = s.scores("c-2")[-1]
    assert hot["fit"] == 30
    assert hot["stars"] == 2
    assert (cold["total"], cold["stars"]) == (0, 0)
    assert hot["stars"] > cold["stars"]

    s.send(
        "crm.engagements",
        "c-1",
        event("engagement.recorded", 4, contact_id="c-1", kind="demo_request", product_line="crm"),
    )
    s.send(
        "crm.engagements",
        "c-1",
        event("engagement.recorded", 4, contact_id="c-1", kind="demo_request", product_line="crm"),
    )  # duplicate
    ready = [r for r in s.scores("c-1") if r["sales_ready"]]
    assert ready
    assert ready[0]["total"] >= 60
    for record in s.scores("c-1"):
        assert round(sum(b["points"] for b in record["breakdown"]), 2) == record["total"]
    signals = s.signals()
    assert [g["signal_id"] for g in signals] == ["c-1:ready:1"]
    assert signals[0]["owner_id"] == "rep-7"
    assert signals[0]["product_line"] == "crm"

    time.sleep(6)  # two half-lives with no new events: engagement decays, the lead drops out
    last = s.scores("c-1")[-1]
    assert not last["sales_ready"]
    assert last["total"] < 50
    assert worker.metric("dealstream_sales_ready_entries_total") == 1
    assert len(s.signals()) == 1


def test_a_changed_organization_rescores_all_its_contacts(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = start(worker_env, tmp_path)
    workers.append(WorkerProcess(env, tmp_path / "w.log").start())
    s = Scores(stack, settings)
    contacts = [f"m-{i}" for i in range(6)]
    for i, c in enumerate(contacts):
        s.send(
            "crm.contacts",
            c,
            event(
                "contact.upserted",
                i,
                contact_id=c,
                organization_id="org-1",
                fields={"city": "Greenville"},
            ),
        )
    s.send(
        "crm.organizations",
        "org-1",
        event(
            "organization.upserted",
            10,
            organization_id="org-1",
            fields={"industry": "Manufacturing"},
        ),
    )
    caught_up(stack.kafka.bootstrap, settings)
    for c in contacts:
        assert s.scores(c, idle=0.5)[-1]["fit"] == 30, c
    s.send(
        "crm.organizations",
        "org-1",
        event("organization.upserted", 11, organization_id="org-1", fields={"industry": "retail"}),
    )
    caught_up(stack.kafka.bootstrap, settings)
    for c in contacts:
        assert s.scores(c, idle=0.5)[-1]["fit"] == 10, c


def test_redis_view_answers_leads_and_catches_up_after_a_redis_restart(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    own_redis = RedisServer(tmp_path / "redis")
    own_redis.start()
    try:
        env, settings = start(worker_env, tmp_path, DEALSTREAM_REDIS_URL=own_redis.url)
        workers.append(worker := WorkerProcess(env, tmp_path / "w.log").start())
        s = Scores(stack, settings)
        for i in range(10):
            s.send(
                "crm.contacts",
                f"v-{i}",
                event(
                    "contact.upserted",
                    i,
                    contact_id=f"v-{i}",
                    owner_id=f"rep-{i % 2}",
                    fields={"lead_status": "Hot", "city": "Greenville" if i < 5 else "Sofia"},
                ),
            )
        caught_up(stack.kafka.bootstrap, settings)

        def owned_by_rep_0() -> list[str]:
            status, body = worker.get("/leads?min_score=25&owner=rep-0")
            assert status == 200
            return sorted(lead["contact_id"] for lead in orjson.loads(body)["leads"])

        # the Redis view is written after the batch commits: wait for it, not for a time
        eventually(lambda: owned_by_rep_0() == ["v-0", "v-2", "v-4"], "the Redis view")

        own_redis.stop()
        for i in range(10, 16):  # scoring goes on while Redis is down
            s.send(
                "crm.contacts",
                f"v-{i}",
                event(
                    "contact.upserted",
                    i,
                    contact_id=f"v-{i}",
                    owner_id="rep-0",
                    fields={"lead_status": "Hot"},
                ),
            )
        caught_up(stack.kafka.bootstrap, settings)
        assert len(s.scores("v-15")) == 1
        assert worker.running()
        own_redis.start()  # empty: persistence is off
        client = redis.Redis(port=own_redis.port)
        leads = f"{env['DEALSTREAM_APP_ID']}:leads"
        eventually(
            lambda: client.zcard(leads) >= 16, "the view rebuilt in the new Redis", timeout=20
        )
        assert client.zcard(leads) == 16
        client.close()
    finally:
        own_redis.stop()


def test_a_new_rules_version_rescores_stored_contacts_once_emitting_only_changes(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = start(worker_env, tmp_path)
    rules = Path(env["DEALSTREAM_RULES_FILE"])
    rules.write_text(RULES.replace("half_life, period: 3s", "none"))
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    s = Scores(stack, settings)
    for i in range(8):
        status = "Hot" if i % 2 else "Warm"
        s.send(
            "crm.contacts",
            f"r-{i}",
            event("contact.upserted", i, contact_id=f"r-{i}", fields={"lead_status": status}),
        )
    caught_up(stack.kafka.bootstrap, settings)
    assert first.terminate() == 0
    rules.write_text(
        RULES.replace("half_life, period: 3s", "none")
        .replace("version: it-scoring-1", "version: it-scoring-2")
        .replace("points: 20}", "points: 25}")
    )
    workers.append(second := WorkerProcess(env, tmp_path / "w2.log").start())
    records = [  # 8 first scores, then the 4 the new version changes
        orjson.loads(m.value)
        for m in consume(stack.kafka.bootstrap, settings.topic("crm.lead-scores"), expect=12)
    ]
    new = [r for r in records if r["rules_version"] == "it-scoring-2"]
    assert len(records) - len(new) == 8
    assert sorted(r["contact_id"] for r in new) == [
        "r-1",
        "r-3",
        "r-5",
        "r-7",
    ]  # only the Hot ones changed
    assert {r["rules_version"] for r in new} == {"it-scoring-2"}
    assert {r["total"] for r in new} == {25}
    cli = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "leads", "--min-score", "20"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "4 lead(s)" in cli.stdout
    assert second.running()
