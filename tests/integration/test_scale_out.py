"""Operating at scale (issue 7): three workers share the partitions; one is killed with SIGKILL
mid-stream and a fourth joins mid-stream. Every output appears exactly once by its id, and the
tables come back whole on the survivors (every contact's score and every opportunity's
schedule carry on)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.catalog import INPUT_TOPICS
from tests.integration.kafka_io import consume, lag_by_partition, produce
from tests.integration.waits import eventually
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics
from workers.topics.internal import ROUTER, SALES_READY
from workers.topics.plan import INTERNAL_TOPICS

RULES = """
version: it-scale
scheduler: {tick_interval: 200ms}
triggers:
  - {id: pulse, stage: proposal, every: 3s, max_firings: 4, catch_up: all, action: {type: ping}}
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 30}, {id: view, kind: page_view, points: 1}]
  sales_ready: {threshold: 60, hysteresis: 10}
routing:
  default: {policy: round_robin, ignore_hours: true, sla: null}
notifications: {sla_warning_before: null}
"""
OPPS = 24
CONTACTS = 30


def at() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def record(topic: str, key: str, body: dict[str, Any]) -> tuple[str, bytes, bytes]:
    return topic, key.encode(), orjson.dumps({"occurred_at": at(), **body})


def wave(n: int) -> list[tuple[str, bytes, bytes]]:
    """One round of traffic: engagements for every contact (two demo requests make a lead
    sales-ready), and an owner change for every third contact."""
    out = []
    for i in range(CONTACTS):
        c = f"c{i}"
        kind = "demo_request" if n in (1, 2) else "page_view"
        out.append(record("crm.engagements", c, {"event_id": f"e{n}-{c}", "type": "engagement.recorded",
                                                  "contact_id": c, "kind": kind}))  # fmt: skip
        if i % 3 == 0:
            out.append(record("crm.contacts", c, {"event_id": f"u{n}-{c}", "type": "contact.upserted",
                                                   "contact_id": c, "owner_id": f"owner-{n}"}))  # fmt: skip
    return out


def send(stack: LocalStack, settings: Settings, records: list[tuple[str, bytes, bytes]]) -> None:
    by_topic: dict[str, list[tuple[bytes | None, bytes]]] = {}
    for topic, key, value in records:
        by_topic.setdefault(topic, []).append((key, value))
    for topic, items in by_topic.items():
        produce(stack.kafka.bootstrap, settings.topic(topic), items)


def read(stack: LocalStack, settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(m.value)
        for m in consume(stack.kafka.bootstrap, settings.topic(topic), idle=3.0)
    ]


@pytest.mark.timeout(360)  # startup, rebalances, and deadlines that wait for the backlog
def test_three_workers_a_kill_9_and_a_fourth_joining(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(tmp_path / "rules.yaml"),
           "DEALSTREAM_SESSION_TIMEOUT": "6"}  # fmt: skip
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))

    def worker(name: str) -> WorkerProcess:
        w = WorkerProcess(
            {**env, "DEALSTREAM_DATA_DIR": str(tmp_path / name)}, tmp_path / f"{name}.log"
        )
        workers.append(w)
        return w.start(wait_ready=0)

    trio = [worker(n) for n in ("a", "b", "c")]
    for w in trio:
        w.wait_ready(90)
    reps = [record("crm.reps", f"r{i}", {"event_id": f"rep{i}", "type": "rep.upserted", "rep_id": f"r{i}",
                                          "product_lines": ["general"], "active": True})
            for i in range(3)]  # fmt: skip
    opps = [record("crm.opportunities", f"o{i}", {"event_id": f"o{i}", "type": "opportunity.upserted",
                                                   "opportunity_id": f"o{i}", "contact_id": f"c{i}",
                                                   "pipeline_id": "sales", "stage_id": "proposal",
                                                   "status": "open"})
            for i in range(OPPS)]  # fmt: skip
    send(stack, settings, reps + opps + wave(0))
    time.sleep(1.0)
    send(stack, settings, wave(1))
    trio[1].kill()  # SIGKILL mid-stream
    send(stack, settings, wave(2))
    time.sleep(2.0)
    fourth = worker("d")  # joins mid-stream
    send(stack, settings, wave(3))
    fourth.wait_ready(90)
    send(stack, settings, wave(4))
    expected = {(f"o{i}", p) for i in range(OPPS) for p in range(1, 5)}

    def all_fired() -> list[dict[str, Any]]:
        # the last are due 12 s after the opportunities arrived; after the kill and the join,
        # deadlines wait for the backlog (the input watermark), however long the rebalances take
        found = read(stack, settings, "crm.trigger-firings")
        return found if {(f["opportunity_id"], f["period"]) for f in found} >= expected else []

    try:
        firings = eventually(all_fired, "every firing of every opportunity", timeout=120, every=1)
    except AssertionError as missing:
        raise AssertionError(
            f"{missing}\n{why_not_fired(stack, settings, expected, workers)}"
        ) from None
    ids = Counter(f["firing_id"] for f in firings)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    periods = Counter((f["opportunity_id"], f["period"]) for f in firings)
    assert set(periods) == {(f"o{i}", p) for i in range(OPPS) for p in range(1, 5)}

    def assigned() -> list[dict[str, Any]]:
        records = read(stack, settings, "crm.lead-assignments")
        return records if {a["contact_id"] for a in records} >= contacts else []

    contacts = {f"c{i}" for i in range(CONTACTS)}  # the router may still be catching up
    try:
        assignments = eventually(assigned, "every sales-ready contact decided", timeout=60, every=1)
    except AssertionError as missing:
        raise AssertionError(f"{missing}\n{where_lost(stack, settings, contacts)}") from None
    ids = Counter(a["assignment_id"] for a in assignments)
    assert max(ids.values()) == 1, ids
    assert {a["contact_id"] for a in assignments} == {f"c{i}" for i in range(CONTACTS)}

    changes = read(stack, settings, "crm.owner-changes")
    pairs = Counter((c["opportunity_id"], c["new_owner_id"]) for c in changes)
    assert max(pairs.values()) == 1, pairs
    final_owner = {f"o{i}": "owner-4" for i in range(0, min(OPPS, CONTACTS), 3)}
    last = {c["opportunity_id"]: c["new_owner_id"] for c in changes}
    assert {o: last.get(o) for o in final_owner} == final_owner

    scores = read(stack, settings, "crm.lead-scores")
    latest = {s["contact_id"]: s for s in scores}  # the tables came back whole: scores go on
    assert {c: latest[c]["total"] for c in latest} == {f"c{i}": 63.0 for i in range(CONTACTS)}
    for w in (trio[0], trio[2], fourth):
        assert w.running()


def why_not_fired(
    stack: LocalStack,
    settings: Settings,
    expected: set[tuple[str, int]],
    workers: list[WorkerProcess],
) -> str:
    """The firings missing, the group's lag per partition (a backlog holds deadlines), and each
    live worker's trigger hold and partition stalls."""
    found = {
        (f["opportunity_id"], f["period"]) for f in read(stack, settings, "crm.trigger-firings")
    }
    missing = sorted(expected - found)
    names = [t.name for t in INPUT_TOPICS] + [name for name, _ in INTERNAL_TOPICS]
    topics = [settings.topic(n) for n in names]
    lags = lag_by_partition(stack.kafka.bootstrap, settings.app_id, topics)
    behind = {tp: n for tp, n in lags.items() if n}
    held = {
        w.log_file.name: (_sum(w, "dealstream_trigger_hold_seconds"),
                          _sum(w, "dealstream_partition_stalls_total"))
        for w in workers if w.running()
    }  # fmt: skip
    stories = "\n".join(story(w, settings.topic("crm.opportunities")) for w in workers)
    return (f"{len(missing)} missing, e.g. {missing[:8]}\nlag: {behind}\n"
            f"(trigger hold s, stalls) per worker: {held}\n{stories}")  # fmt: skip


def story(worker: WorkerProcess, topic: str) -> str:
    """A worker's rebalances as its log tells them: how many assignments, the partitions of
    `topic` in the last, what recovery said after it, and its last warnings."""
    text = worker.log_file.read_text(errors="replace") if worker.log_file.exists() else ""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if "Setting newly assigned partitions" in line]
    last = starts[-1] if starts else len(lines)
    owned = [line.split("|")[2].strip() for line in lines[last:last + 80]
             if line.startswith(f"| {topic} ")][:1]  # fmt: skip
    after = [line[line.find("]: ") + 3:][:60] for line in lines[last:]
             if "Recovery]" in line or "Worker ready" in line]  # fmt: skip
    warnings = [line[:200] for line in lines if "[WARNING]" in line or "[ERROR]" in line]
    state = "running" if worker.running() else "stopped"
    return (
        f"{worker.log_file.name} ({state}): {len(starts)} assignments; last: {topic} "
        f"{owned or '-'}; then {after[-3:]}; {len(warnings)} warnings, last {warnings[-3:]}"
    )


def _sum(worker: WorkerProcess, name: str) -> float:
    """Every sample of `name` on the worker's /metrics, added up."""
    lines = worker.get("/metrics")[1].decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name))


def where_lost(stack: LocalStack, settings: Settings, contacts: set[str]) -> str:
    """For each contact without a decision, how far its sales-ready signal went: scored ready,
    signalled (`dealstream.sales-ready`), forwarded to the router (`dealstream.router`)."""
    decided = {a["contact_id"] for a in read(stack, settings, "crm.lead-assignments")}
    ready = {
        s["contact_id"] for s in read(stack, settings, "crm.lead-scores") if s.get("sales_ready")
    }
    signalled = {s["contact_id"] for s in read(stack, settings, SALES_READY)}
    forwarded = {
        orjson.loads(base64.b64decode(m["body"]))["contact_id"]  # msgspec: bytes as base64
        for m in read(stack, settings, ROUTER)
        if m.get("kind") == "signal"
    }
    lines = [f"{c}: scored ready {c in ready}, signalled {c in signalled}, forwarded {c in forwarded}"
             for c in sorted(contacts - decided)]  # fmt: skip
    return "\n".join(lines)
