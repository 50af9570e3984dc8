"""The lead router on the real local Kafka: reps on two product lines, owner first, capacity,
a queue released the next day (the test moves the worker's clock), out of office, SLA
reassignment, and kill -9 of the worker mid-stream with no duplicate and no lost decision."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import redis

from tests.integration.crm_world import CrmWorld
from tests.integration.kafka_io import caught_up
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: it-router
scheduler: {tick_interval: 200ms}
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 50}]
  sales_ready: {threshold: 40, hysteresis: 10}
routing:
  product_lines:
    crm: {policy: relationship_owner, fallback: round_robin, sla: null}
    erp: {policy: round_robin, ignore_hours: true, sla: 3s}
"""


def at(offset: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)).isoformat()


class World(CrmWorld):
    def rep(self, rep_id: str, lines: list[str], n: int, **extra: Any) -> None:
        self.send(
            "crm.reps",
            rep_id,
            {
                "event_id": f"rep-{rep_id}-{n}",
                "type": "rep.upserted",
                "occurred_at": at(),
                "rep_id": rep_id,
                "product_lines": lines,
                "active": True,
                **extra,
            },
        )

    def lead(self, contact: str, line: str, owner: str | None = None) -> None:
        self.contact(contact, owner)
        if owner is not None:  # topics are not ordered between them: the owner lands first
            caught_up(self.boot, self.s)
        self.engagement(f"d-{contact}", contact, "demo_request", product_line=line)

    def assignments(self, idle: float = 2.0) -> list[dict[str, Any]]:
        return self.read("crm.lead-assignments", idle)


def by_contact(records: list[dict[str, Any]]) -> dict[str, list[tuple[str, str | None, str]]]:
    out: dict[str, list[tuple[str, str | None, str]]] = {}
    for r in records:
        out.setdefault(r["contact_id"], []).append(
            (r["decision"], r["rep_id"], r["reason"]["code"])
        )
    return out


def test_routing_end_to_end_with_a_kill_9_in_the_middle(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    rules, clock = tmp_path / "rules.yaml", tmp_path / "clock-offset"
    rules.write_text(RULES)
    clock.write_text("0")
    env = {
        **worker_env,
        "DEALSTREAM_RULES_FILE": str(rules),
        "DEALSTREAM_CLOCK": f"offset-file:{clock}",
    }
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    w = World(stack, settings)
    w.rep("r1", ["crm", "erp"], 1, capacity={"per_day": 1})
    w.rep("r2", ["erp"], 1, capacity={"per_day": 1})
    w.rep("r3", ["crm"], 1)
    caught_up(stack.kafka.bootstrap, settings)

    w.lead("a", "crm", owner="rep-owner")  # scenario A: the owner is notified
    w.lead("b", "erp")
    caught_up(stack.kafka.bootstrap, settings)
    w.lead("c", "erp")
    caught_up(stack.kafka.bootstrap, settings)
    w.send(
        "crm.rep-activities",
        "c",
        {
            "event_id": "acc-c",
            "type": "lead.accepted",
            "occurred_at": at(),
            "contact_id": "c",
            "rep_id": "r2",
        },
    )
    w.lead("d", "erp")  # both erp reps used their day: queued
    caught_up(stack.kafka.bootstrap, settings)
    got = by_contact(w.assignments())
    assert got["a"] == [("owner_notified", "rep-owner", "relationship_owner")]
    assert got["b"][0] == ("assigned", "r1", "assigned")
    assert got["c"] == [("assigned", "r2", "assigned")]
    assert got["d"][0] == ("queued", None, "all_at_capacity")

    # r2 goes out of office for the next two days; kill -9 the worker, restart it
    w.rep(
        "r2",
        ["erp"],
        2,
        capacity={"per_day": 1},
        out_of_office=[{"start": at(-60), "end": at(3 * 86400)}],
    )
    caught_up(stack.kafka.bootstrap, settings)
    first.kill()
    workers.append(WorkerProcess(env, tmp_path / "w2.log").start())

    clock.write_text(str(86400 + 3600))  # the next day: capacities reset
    time.sleep(1.0)
    w.rep("r4", ["erp"], 1)  # a new erp rep joins: the queue moves on
    caught_up(stack.kafka.bootstrap, settings)  # after the dead worker's partitions moved
    w.lead("e", "crm")  # no owner: round robin among crm reps
    caught_up(stack.kafka.bootstrap, settings)
    records = w.assignments(idle=3.0)
    ids = [r["assignment_id"] for r in records]
    assert len(ids) == len(set(ids)), "an assignment was published twice"
    got = by_contact(records)
    assert got["d"][1] == (
        "assigned",
        "r1",
        "released",
    )  # released in the morning, not to r2 (away)
    # r1 never accepted b within the 3 s SLA: taken back; r2 was full, so it waits in the queue
    assert got["b"][1] == ("queued", None, "all_at_capacity")
    b_texts = [r["reason"]["text"] for r in records if r["contact_id"] == "b"]
    assert b_texts[1].startswith("sla_expired: ")
    assert got["c"] == [("assigned", "r2", "assigned")]  # accepted: no SLA reassignment
    assert got["e"][0][0] == "assigned"
    assert got["e"][0][1] in ("r1", "r3")
    for contact in "abcde":
        assert contact in got  # nothing lost across the kill -9
    client = redis.Redis(port=stack.redis.port, decode_responses=True)
    try:
        app = env["DEALSTREAM_APP_ID"]
        assert (
            client.hgetall(f"{app}:rep-load:r1")["open_leads"] == "0"
        )  # both its leads were taken back
        assert client.hgetall(f"{app}:rep-load:r3") == {
            "open_leads": "1",
            "assigned_day": "1",
            "assigned_month": "1",
            "active": "1",
        }
        assert client.hgetall(f"{app}:queue-depth").get("erp") == str(
            len([1 for c in "bd" if got[c][-1][0] == "queued"])
        )
    finally:
        client.close()
