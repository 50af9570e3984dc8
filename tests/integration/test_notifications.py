"""Rep notifications on the real local Kafka (issue 8): the owner hears its lead became
sales-ready (with the breakdown), an assigned rep hears of its lead and gets one SLA warning,
email replies reach the rep they belong to with what they answer, and a kill -9 and restart
repeats none of them."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.integration.crm_world import CrmWorld
from tests.integration.deployment import deploy
from tests.integration.kafka_io import caught_up
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack

RULES = """
version: it-notifications
scheduler: {tick_interval: 200ms}
scoring:
  profile:
    contact: [{id: hot, field: lead_status, equals: Hot, points: 20}]
  engagement:
    rules: [{id: demo, kind: demo_request, points: 50}]
  sales_ready: {threshold: 60, hysteresis: 10}
routing:
  default:
    policy: relationship_owner
    fallback: round_robin
    ignore_hours: true
    sla: 20s
    sla_clock: calendar
notifications: {sla_warning_before: 15s}
"""


def at() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class World(CrmWorld):
    def contact(self, contact: str, owner: str | None, **extra: Any) -> None:
        super().contact(contact, owner, fields={"lead_status": "Hot"}, **extra)

    def notifications(self, idle: float = 2.0) -> list[dict[str, Any]]:
        return self.read("crm.rep-notifications", idle)


def test_reps_hear_what_they_must_once(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = deploy(worker_env, tmp_path, RULES)
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    w = World(stack, settings)
    w.send(
        "crm.reps",
        "r1",
        {
            "event_id": "rep-r1",
            "type": "rep.upserted",
            "occurred_at": at(),
            "rep_id": "r1",
            "product_lines": ["general"],
            "active": True,
        },
    )
    w.contact("owned", owner="owner-1")  # scenario A: the owner keeps it and is told
    w.contact("new", owner=None)  # no owner: round robin gives it to r1
    w.contact("quiet", owner="owner-2")  # never sales-ready: replies go to its owner
    caught_up(stack.kafka.bootstrap, settings)
    w.engagement("demo-owned", "owned", "demo_request")
    w.engagement("demo-new", "new", "demo_request")
    caught_up(stack.kafka.bootstrap, settings)
    w.engagement("reply-new", "new", "email_reply", campaign_id="spring-offer")
    w.engagement("reply-quiet", "quiet", "email_reply", source="newsletter")
    w.engagement("reply-direct", "quiet", "email_reply", rep_id="r7")
    caught_up(stack.kafka.bootstrap, settings)
    first.kill()  # mid-stream: the SLA warning for r1 is still ahead
    workers.append(WorkerProcess(env, tmp_path / "w2.log").start())
    # the router's partition moves once the dead worker's session expires: wait for the rest
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        kinds = Counter(n["kind"] for n in w.notifications(idle=1.0))
        if kinds["sla_warning"] and kinds["reply_received"] >= 3:
            break
    caught_up(stack.kafka.bootstrap, settings)  # anything that would come twice is out by now

    got = w.notifications()
    ids = Counter(n["notification_id"] for n in got)
    assert all(n == 1 for n in ids.values()), [g for g in got if ids[g["notification_id"]] > 1]
    by = {(n["kind"], n["contact_id"]): n for n in got}
    ready = by[("lead_sales_ready", "owned")]
    assert ready["rep_id"] == "owner-1"
    breakdown = {b["rule_id"]: b["points"] for b in ready["context"]["breakdown"]}
    assert breakdown == {"hot": 20.0, "demo": 50.0}
    assigned = by[("lead_assigned", "new")]
    assert assigned["rep_id"] == "r1"
    assert ("lead_sales_ready", "new") not in by  # no owner to tell
    warning = by[("sla_warning", "new")]
    assert warning["rep_id"] == "r1"
    assert 0 < warning["context"]["seconds_left"] <= 15.0
    replies = {n["context"]["event_id"]: n for n in got if n["kind"] == "reply_received"}
    assert replies["reply-new"]["rep_id"] == "r1"
    assert replies["reply-new"]["context"]["via"] == "assignment"
    assert replies["reply-new"]["context"]["campaign_id"] == "spring-offer"
    assert replies["reply-new"]["context"]["assignment_id"] == assigned["context"]["assignment_id"]
    assert replies["reply-quiet"]["rep_id"] == "owner-2"
    assert replies["reply-quiet"]["context"]["source"] == "newsletter"
    assert replies["reply-direct"]["rep_id"] == "r7"
    assert Counter(n["kind"] for n in got) == {
        "lead_sales_ready": 1,
        "lead_assigned": 1,
        "sla_warning": 1,
        "reply_received": 3,
    }
