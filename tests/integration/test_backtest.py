"""`dealstream rules backtest` on the real broker (issue 19): the demo's simulator writes a day
of history while the workers run on it (a day every 10 s, the demo's clock); then a backtest
of the same rules over that history counts what the workers emitted (sales-ready signals,
firings per trigger; routing decisions: one first decision per lead, see below), and
it wrote nothing to any topic or Redis."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from tests.integration.deployment import deploy
from tests.integration.kafka_io import caught_up, consume, lag_by_partition, produce_many
from tests.integration.worker_process import WorkerProcess
from workers.cli.main import main
from workers.clock import AcceleratedClock
from workers.demo.feed import Feed, decision_kind, follow
from workers.devstack import LocalStack
from workers.simulate.publisher import Publisher, clock_setting
from workers.simulate.simulator import SimulationConfig, Simulator
from workers.topics.internal import SALES_READY

FACTOR = 8640.0  # simulated seconds per second: a day every 10 s
DAY = 10.0
RULES_FILE = Path(__file__).resolve().parents[2] / "workers/rules/default_rules.yaml"


def rules_text() -> str:
    """The demo's rules, with what depends on when a worker looks taken out. At a day every
    10 s a worker ticks every 72 simulated minutes, so an SLA, working hours or a catch-up
    grace of 60 s are judged at another time than in a replay ticking every minute; and it
    scores an engagement some simulated minutes after it occurred (50 ms of latency is 7
    minutes), so decay leaves a contact at 59.99 where the replay, whose clock is the events'
    time, finds exactly 60. At a real clock both are a matter of milliseconds. The simulator
    writes its events every 0.1 s, up to 14.4 simulated minutes after they occurred: deadlines
    wait 30 minutes (`allowed_lateness`) so that an opportunity closed a few minutes before a
    period was due, but written after, cancels it for the workers as for the replay."""
    text = RULES_FILE.read_text()
    decay = "decay: {kind: half_life, period: 14d}"
    assert decay in text, "the default scoring rules changed"
    text = text.replace(decay, "decay: {kind: none}")
    text = text.replace("catch_up_grace: 60s", "catch_up_grace: 1d")
    assert "allowed_lateness: 0s" in text, "the default scheduler rules changed"
    text = text.replace("allowed_lateness: 0s", "allowed_lateness: 30m")
    for sla in (", sla: 4h}", ", sla: 8h}", ", sla: 1d}"):
        text = text.replace(sla, ", ignore_hours: true}")
    assert text.count("ignore_hours: true") == 4, "the default routing rules changed"
    return text


def _topics_ends(boot: str, names: list[str]) -> dict[str, int]:
    return {tp: n for tp, n in lag_by_partition(boot, "nobody-reads-this", names).items()}


def test_backtest_of_the_running_rules_counts_what_the_workers_emitted(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    env, settings = deploy(worker_env, tmp_path, rules_text())
    anchor = time.time() + 15.0  # the workers and the team are up before the day begins
    env["DEALSTREAM_CLOCK"] = clock_setting(FACTOR, anchor)
    workers.append(WorkerProcess(env, tmp_path / "w1.log").start())
    config = SimulationConfig(seed=19, rate=60.0, factor=FACTOR)
    # The team first: the router knows its reps before the first lead. Otherwise the order in
    # which a worker happens to take the first burst (reps, or the first sales-ready leads)
    # decides whether those leads are queued, an order a replay cannot know.
    team = Simulator(config, dt.datetime.fromtimestamp(anchor, dt.UTC)).until(anchor)
    produce_many(
        stack.kafka.bootstrap,
        [(settings.topic(t), key, value) for _, t, key, value in team if t == "crm.reps"],
    )
    caught_up(stack.kafka.bootstrap, settings)
    feed = Feed()

    async def simulate() -> None:
        follower = asyncio.ensure_future(follow(feed, settings))
        try:
            await asyncio.sleep(max(0.0, anchor - time.time()))
            await Publisher(settings, config, anchor, decisions=feed.take_decisions).run(DAY)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    asyncio.run(simulate())
    caught_up(stack.kafka.bootstrap, settings)
    first = dt.datetime.fromtimestamp(anchor, dt.UTC)
    since = first - dt.timedelta(hours=1)
    end = first + dt.timedelta(days=1, hours=3)  # the day, and what its last events caused
    # This wait is about time: a deadline before `end` is judged once the workers' clock (the
    # same accelerated clock) is past it, plus a few of their ticks (500 ms each).
    workers_clock = AcceleratedClock(FACTOR, anchor)
    time.sleep(max(0.0, (end - workers_clock.now()).total_seconds() / FACTOR + 2.0))
    caught_up(stack.kafka.bootstrap, settings)  # and what those ticks caused is processed
    workers[0].kill()

    boot = stack.kafka.bootstrap
    signals = [orjson.loads(m.value) for m in consume(boot, settings.topic(SALES_READY))]
    firings = [
        f
        for f in (
            orjson.loads(m.value) for m in consume(boot, settings.topic("crm.trigger-firings"))
        )
        if since <= dt.datetime.fromisoformat(f["due_at"]) < end  # counted by when it was due
    ]
    bodies = [
        body
        for body in (
            orjson.loads(m.value) for m in consume(boot, settings.topic("crm.lead-assignments"))
        )  # those of the window: the workers run on past `end`, an hour late at each tick; a
        # decision an SLA expiry made counts by when it was due (dues cluster when the reps'
        # working hours begin: those due just before `end` go out after it)
        if since <= dt.datetime.fromisoformat(body.get("due_at") or body["emitted_at"]) < end
    ]
    decisions = Counter(decision_kind(body) for body in bodies)
    # the first decision of each lead (its contact and cause; one partition, in order): an SLA
    # reassignment that finds no rep queues the lead again, which is not a first decision
    first_of: dict[tuple[str, str], str] = {}
    for body in bodies:
        first_of.setdefault((body["contact_id"], body.get("event_id") or ""), decision_kind(body))
    firsts = Counter(first_of.values())
    assert len(signals) > 5, signals
    assert firings
    assert decisions["assigned"] > 5, decisions

    all_topics = sorted(t for t in _all_topics(boot) if t.startswith(settings.topic_prefix))
    before = _topics_ends(boot, all_topics)
    keys_before = _redis_state(stack)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["rules", "backtest", str(tmp_path / "rules.yaml"), "--against",
                     str(tmp_path / "rules.yaml"), "--from", since.isoformat(), "--to", end.isoformat(), "--json"])  # fmt: skip
    assert code == 0, err.getvalue()
    doc = orjson.loads(out.getvalue())
    totals = {(r["metric"], r["label"]): r for r in doc["report"]["totals"]}

    def count(metric: str, label: str = "") -> tuple[int, int]:
        row = totals.get((metric, label), {"old": 0, "new": 0})
        return row["old"], row["new"]

    assert count("sales_ready") == (len(signals), len(signals))
    for trigger, n in Counter(f["trigger_id"] for f in firings).items():
        assert count("trigger_firings", trigger) == (n, n), trigger
    fired = {label for metric, label in totals if metric == "trigger_firings"}
    assert fired == {f["trigger_id"] for f in firings}
    # Every sales-ready lead gets one first decision: to its owner, to a rep, or queued. The
    # replay's totals also count as queued a lead that an SLA reassignment found no rep for
    # (queued again), which is not a first decision: how many depends on the time of day.
    first = ("owner_notified", "assigned", "queued")
    leads, replayed = sum(firsts[k] for k in first), sum(count("decisions", k)[0] for k in first)
    assert leads <= replayed <= leads + count("decisions", "queued")[0], (leads, replayed)
    assert count("decisions", "owner_notified") == (decisions["owner_notified"],) * 2
    # Which rep, or whether a lead waits, depends on time and order, and the two runs keep
    # different time: the workers' clock is the processing time (half a second late is more
    # than an hour at this speed), the replay's is the events' time, so near a rep's local
    # midnight a lead counts on another day, and at capacity (12 a day) it is queued in one
    # run and assigned in the other (released later). The team's answers in the history
    # (accepted, contacted, rejected) answer the reps the workers chose, so a lead the replay
    # gives to another rep frees no capacity there. Each such lead moves one decision.
    answers = len(consume(boot, settings.topic("crm.rep-activities")))
    slack = answers + max(decisions["queued"], count("decisions", "queued")[0])
    for kind in ("assigned", "queued", "released", "reassigned"):
        old, new = count("decisions", kind)
        assert old == new, kind
        assert abs(old - decisions[kind]) <= slack, (kind, old, decisions, answers)
    assert doc["about"]["replayed"] == doc["about"]["records"] > 0
    assert not doc["about"]["cold"]

    assert _topics_ends(boot, all_topics) == before  # nothing written to any topic
    assert _redis_state(stack) == keys_before  # nor to Redis


def _all_topics(boot: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    async def run() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=boot)
        await admin.start()
        try:
            return list(await admin.list_topics())
        finally:
            await admin.close()

    return asyncio.run(run())


def _redis_state(stack: LocalStack) -> dict[str, Any]:
    client = redis.Redis.from_url(stack.env()["DEALSTREAM_REDIS_URL"])
    try:
        return {k: client.dump(k) for k in client.scan_iter(count=1000)}
    finally:
        client.close()
