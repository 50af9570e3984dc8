"""Rules applied without a restart (issue 7): `dealstream rules publish` reaches every worker,
which switch to the new version (metric), re-plan triggers without re-firing, re-score stored
contacts once in the background; a published file that does not validate is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from tests.integration.kafka_io import caught_up, consume, produce
from tests.integration.waits import eventually
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: {version}
scheduler: {{tick_interval: 200ms}}
triggers:
  - {{id: pulse, stage: proposal, every: 2s, catch_up: all, action: {{type: ping, campaign_id: {version}}}}}
scoring:
  profile:
    contact: [{{id: hot, field: lead_status, equals: Hot, points: {hot}}}]
  engagement:
    rules: [{{id: demo, kind: demo_request, points: {demo}}}]
"""
N = 6


def publish(env: dict[str, str], rules: Path) -> None:
    """`dealstream rules publish RULES`, as an operator runs it."""
    published = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "rules", "publish", str(rules)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert published.returncode == 0, published.stderr


def stamp(**fields: Any) -> bytes:
    return orjson.dumps({"occurred_at": dt.datetime.now(dt.UTC).isoformat(), **fields})


def test_published_rules_switch_every_worker_without_a_restart(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    v1.write_text(RULES.format(version="v1", hot=0, demo=25))
    # the profile rule and a kind's points change: every held contact is re-scored, its past
    # demo request now worth 30 (issue 14.8)
    v2.write_text(RULES.format(version="v2", hot=20, demo=30))
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(v1)}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    pair = []
    for name in ("a", "b"):
        w = WorkerProcess(
            {**env, "DEALSTREAM_DATA_DIR": str(tmp_path / name)}, tmp_path / f"{name}.log"
        )
        workers.append(w)
        pair.append(w.start(wait_ready=0))
    for w in pair:
        w.wait_ready(90)
    boot = stack.kafka.bootstrap
    produce(boot, settings.topic("crm.opportunities"), [
        (f"o{i}".encode(), stamp(event_id=f"o{i}", type="opportunity.upserted", opportunity_id=f"o{i}",
                                 contact_id=f"c{i}", pipeline_id="sales", stage_id="proposal",
                                 status="open"))
        for i in range(N)
    ])  # fmt: skip
    produce(boot, settings.topic("crm.contacts"), [
        (f"c{i}".encode(), stamp(event_id=f"u{i}", type="contact.upserted", contact_id=f"c{i}",
                                 fields={"lead_status": "Hot"}))
        for i in range(N)
    ])  # fmt: skip
    produce(boot, settings.topic("crm.engagements"), [
        (f"c{i}".encode(), stamp(event_id=f"d{i}", type="engagement.recorded", contact_id=f"c{i}",
                                 kind="demo_request"))
        for i in range(N)
    ])  # fmt: skip
    caught_up(boot, settings)

    publish(env, v2)
    switched_at = time.time()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(w.metric("dealstream_rules_info", version="v2") == 1 for w in pair):
            break
        time.sleep(0.3)
    for w in pair:
        assert w.metric("dealstream_rules_info", version="v2") == 1, w.tail()
        assert w.metric("dealstream_rules_info", version="v1") == 0
        assert w.metric("dealstream_rules_reloads_total") == 1
    time.sleep(5.0)

    # a file that does not validate is refused; v2 stays in force
    produce(
        boot,
        settings.topic("dealstream.rules"),
        [(b"rules", b"version: v3\nscoring: {stars: 7}\n")],
    )
    eventually(
        lambda: all(w.metric("dealstream_rules_refused_total") == 1 for w in pair),
        "both workers refused v3",
    )
    for w in pair:
        assert w.metric("dealstream_rules_info", version="v2") == 1

    firings = [orjson.loads(m.value) for m in consume(boot, settings.topic("crm.trigger-firings"))]
    assert max(Counter(f["firing_id"] for f in firings).values()) == 1
    by_opp: dict[str, list[dict[str, Any]]] = {}
    for f in firings:
        by_opp.setdefault(f["opportunity_id"], []).append(f)
    assert len(by_opp) == N
    for opp, fs in by_opp.items():
        periods = sorted(f["period"] for f in fs)
        assert periods == list(range(1, len(periods) + 1)), (opp, periods)  # no re-firing, no gap
        late = [
            f for f in fs if dt.datetime.fromisoformat(f["fired_at"]).timestamp() > switched_at + 3
        ]
        assert late, (opp, fs)
        assert {f["action"]["campaign_id"] for f in late} == {"v2"}

    scores = [orjson.loads(m.value) for m in consume(boot, settings.topic("crm.lead-scores"))]
    latest = {s["contact_id"]: s for s in scores}
    assert {c: (s["rules_version"], s["total"]) for c, s in latest.items()} == {
        f"c{i}": ("v2", 50.0) for i in range(N)
    }
    v2_scores = Counter(s["contact_id"] for s in scores if s["rules_version"] == "v2")
    assert set(v2_scores.values()) == {1}  # re-scored once each, in the background
    for w in pair:
        assert w.metric("dealstream_rules_rescore_remaining") == 0


def test_a_fresh_worker_starts_with_the_published_rules(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Issue 14.2: rules published while no worker runs win over DEALSTREAM_RULES_FILE at
    start-up (an empty store, no reload), and the worker scores by them."""
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    v1.write_text(RULES.format(version="v1", hot=0, demo=30))
    v2.write_text(RULES.format(version="v2", hot=20, demo=30))
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(v1)}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    publish(env, v2)
    worker = WorkerProcess(
        {**env, "DEALSTREAM_DATA_DIR": str(tmp_path / "fresh")}, tmp_path / "w.log"
    )
    workers.append(worker.start(wait_ready=90))
    assert worker.metric("dealstream_rules_info", version="v2") == 1, worker.tail()
    assert worker.metric("dealstream_rules_info", version="v1") == 0
    assert worker.metric("dealstream_rules_reloads_total") == 0  # in force from the start
    assert "the published version v2 wins over v1" in worker.log_file.read_text()
    boot = stack.kafka.bootstrap
    produce(boot, settings.topic("crm.contacts"), [
        (b"c1", stamp(event_id="u1", type="contact.upserted", contact_id="c1",
                      fields={"lead_status": "Hot"})),
    ])  # fmt: skip
    (score,) = [
        orjson.loads(m.value) for m in consume(boot, settings.topic("crm.lead-scores"), expect=1)
    ]
    assert (score["rules_version"], score["total"]) == ("v2", 20.0)
