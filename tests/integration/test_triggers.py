"""Time-in-stage triggers on the real local Kafka, with durations of seconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from tests.integration.kafka_io import consume, produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack
from workers.settings import Settings
from workers.topics.admin import create_topics

RULES = """
version: "it-triggers"
scheduler: {{tick_interval: 200ms, catch_up_grace: 1s}}
triggers:
{triggers}
"""
TRIGGER = """  - id: {id}
    pipeline: sales
    stage: proposal
    every: {every}
    catch_up: {catch_up}
    action: {{type: enroll_campaign, campaign_id: {id}}}
"""


def write_rules(path: Path, *triggers: tuple[str, str, str]) -> Path:
    body = "".join(TRIGGER.format(id=i, every=e, catch_up=c) for i, e, c in triggers)
    path.write_text(RULES.format(triggers=body))
    return path


def opportunity(
    opp: str,
    stage: str,
    at: dt.datetime,
    n: int,
    kind: str = "opportunity.upserted",
    status: str = "open",
) -> tuple[bytes, bytes]:
    body = {
        "event_id": f"{opp}-{n}",
        "type": kind,
        "occurred_at": at.isoformat(),
        "opportunity_id": opp,
        "contact_id": f"c-{opp}",
        "pipeline_id": "sales",
        "stage_id": stage,
        "status": status,
        "amount": 1000,
    }
    return opp.encode(), orjson.dumps(body)


def firings(stack: LocalStack, settings: Settings, idle: float = 2.0) -> list[dict[str, Any]]:
    return [
        orjson.loads(m.value)
        for m in consume(stack.kafka.bootstrap, settings.topic("crm.trigger-firings"), idle=idle)
    ]


def periods_by(records: list[dict[str, Any]], *fields: str) -> dict[tuple[Any, ...], list[int]]:
    out: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for r in records:
        out[tuple(r[f] for f in fields)].append(r["period"])
    return out


def setup(worker_env: dict[str, str], rules: Path) -> tuple[dict[str, str], Settings]:
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(rules)}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    return env, settings


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()))


def test_periods_fire_on_time_and_a_stage_change_stops_them(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = setup(
        worker_env, write_rules(tmp_path / "rules.yaml", ("remind", "2s", "latest"))
    )
    workers.append(worker := WorkerProcess(env, tmp_path / "w.log").start())
    t0 = dt.datetime.now(dt.UTC)
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity("o-1", "proposal", t0, 1)],
    )
    wait_until(t0.timestamp() + 7.0)
    moved = dt.datetime.now(dt.UTC)
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity("o-1", "closing", moved, 2, "opportunity.stage_changed")],
    )
    wait_until(t0.timestamp() + 12.0)
    records = firings(stack, settings)
    assert [r["period"] for r in records] == [1, 2, 3]
    for r in records:
        due = dt.datetime.fromisoformat(r["due_at"])
        lateness = (dt.datetime.fromisoformat(r["fired_at"]) - due).total_seconds()
        assert 0 <= lateness <= 2.0, r  # the service level: within 2 s of the due time
        assert due == t0 + dt.timedelta(seconds=2 * r["period"])
        assert r["action"] == {"type": "enroll_campaign", "campaign_id": "remind"}
        assert r["event_id"] == "o-1-1"
    assert len({r["firing_id"] for r in records}) == 3
    assert worker.metric("dealstream_trigger_firings_total", trigger="remind") == 3
    assert worker.metric("dealstream_open_opportunities", pipeline="sales", stage="closing") == 1


def test_kill_9_between_periods_then_restart_gives_no_duplicate_and_follows_catch_up(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    rules = write_rules(
        tmp_path / "rules.yaml",
        ("all", "3s", "all"),
        ("latest", "3s", "latest"),
        ("none", "3s", "none"),
    )
    env, settings = setup(worker_env, rules)
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    t0 = dt.datetime.now(dt.UTC)
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity("o-9", "proposal", t0, 1)],
    )
    wait_until(t0.timestamp() + 4.0)  # period 1 (t0+3) has fired
    first.kill()
    wait_until(t0.timestamp() + 13.5)  # periods 2, 3 and 4 fall due while no worker runs
    workers.append(second := WorkerProcess(env, tmp_path / "w2.log").start())
    restarted = time.time()
    wait_until(restarted + 5.0)
    end = time.time()
    by_trigger = periods_by(firings(stack, settings), "trigger_id")
    for trigger, periods in by_trigger.items():
        assert len(periods) == len(set(periods)), (trigger, periods)  # never twice
        assert periods == sorted(periods)
    due_at_restart = int((restarted - t0.timestamp()) // 3)
    due_at_end = int((end - t0.timestamp()) // 3)
    assert by_trigger[("all",)] == list(range(1, len(by_trigger[("all",)]) + 1))
    assert len(by_trigger[("all",)]) >= due_at_restart
    latest = by_trigger[("latest",)]
    assert latest[0] == 1
    assert 2 not in latest
    assert 3 not in latest
    assert latest[1] >= due_at_restart - 1
    none = by_trigger[("none",)]
    assert none[0] == 1
    assert 2 not in none
    assert 3 not in none
    assert max(latest) >= due_at_end - 1
    assert max(none) >= due_at_end - 1
    assert second.running()


def test_two_workers_with_a_rebalance_in_the_middle_give_no_duplicate_and_no_gap(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = setup(worker_env, write_rules(tmp_path / "rules.yaml", ("pulse", "2s", "all")))
    workers.append(
        a := WorkerProcess(
            {**env, "DEALSTREAM_DATA_DIR": str(tmp_path / "a")}, tmp_path / "a.log"
        ).start()
    )
    t0 = dt.datetime.now(dt.UTC)
    opps = [f"r-{i}" for i in range(12)]
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity(o, "proposal", t0, 1) for o in opps],
    )
    wait_until(t0.timestamp() + 5.0)
    workers.append(
        b := WorkerProcess(
            {**env, "DEALSTREAM_DATA_DIR": str(tmp_path / "b")}, tmp_path / "b.log"
        ).start()
    )
    wait_until(t0.timestamp() + 14.0)
    assert a.terminate() == 0  # a second rebalance: b takes every partition
    wait_until(t0.timestamp() + 22.0)
    moved = dt.datetime.now(dt.UTC)
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity(o, "proposal", moved, 2, "opportunity.closed", "won") for o in opps],
    )
    # firings went on after both rebalances: allow up to 5 s for a rebalance on a busy machine
    expected = int((moved.timestamp() - t0.timestamp() - 5) // 2)
    by_opp = periods_by(firings(stack, settings, idle=3.0), "opportunity_id")
    assert set(by_opp) == {(o,) for o in opps}
    for opp, periods in by_opp.items():
        assert sorted(periods) == list(range(1, len(periods) + 1)), (opp, periods)  # no gap, no dup
        assert len(periods) >= expected
    assert b.running()


def test_changed_every_on_restart_replans_without_refiring_and_deactivation_stops(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    rules = write_rules(tmp_path / "rules.yaml", ("replan", "2s", "all"), ("stopper", "2s", "all"))
    env, settings = setup(worker_env, rules)
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    t0 = dt.datetime.now(dt.UTC)
    produce(
        stack.kafka.bootstrap,
        settings.topic("crm.opportunities"),
        [opportunity("o-5", "proposal", t0, 1)],
    )
    wait_until(t0.timestamp() + 5.0)
    assert first.terminate() == 0
    stopped = time.time()
    rules.write_text(
        RULES.format(
            triggers=TRIGGER.format(id="replan", every="3s", catch_up="all")
            + TRIGGER.format(id="stopper", every="2s", catch_up="all")
            + "    active: false\n"
        )
    )
    workers.append(WorkerProcess(env, tmp_path / "w2.log").start())
    wait_until(time.time() + 6.0)
    records = firings(stack, settings)
    due = defaultdict(list)
    for r in records:
        due[r["trigger_id"]].append(
            dt.datetime.fromisoformat(r["due_at"]).timestamp() - t0.timestamp()
        )
    old = [d for d in due["replan"] if abs(d % 2) < 0.01 and d <= 4.01]
    assert old[:2] == [2.0, 4.0]
    new = due["replan"][len(old) :]
    assert new, due
    assert all(d > 4.0 for d in new)  # nothing at or before the last fired due time again
    assert all(abs(d % 3) < 0.01 for d in new)  # re-planned on the new `every` from the visit start
    assert new == sorted(set(new))
    assert len({r["firing_id"] for r in records}) == len(records)
    assert all(d < stopped - t0.timestamp() + 0.5 for d in due["stopper"])  # deactivated: no more


def test_an_opportunity_at_the_end_of_time_stalls_nothing_even_after_a_restart(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    """Issue 16.4: with the plausible window opened wide, opportunities entered at year 9999 and
    year 1 are accepted into the table; the others of every partition keep firing, before and
    after a restart rebuilds the schedule from the table. With the default window they are
    dead-lettered as implausible_timestamp."""
    env, settings = setup(
        worker_env, write_rules(tmp_path / "rules.yaml", ("remind", "2s", "latest"))
    )
    env |= {"DEALSTREAM_MIN_OCCURRED_AT": "0001-01-01T00:00:00Z",
            "DEALSTREAM_MAX_OCCURRED_AT": "9999-12-31T23:59:59Z"}  # fmt: skip
    end = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    start = dt.datetime(1, 1, 1, 1, 0, tzinfo=dt.UTC)
    odd = [opportunity(f"odd-{i}", "proposal", end if i % 2 else start, 1) for i in range(8)]
    normal = [f"n-{i}" for i in range(8)]  # 8 of each: every partition has both
    workers.append(first := WorkerProcess(env, tmp_path / "w1.log").start())
    produce(stack.kafka.bootstrap, settings.topic("crm.opportunities"), odd)
    produce(stack.kafka.bootstrap, settings.topic("crm.opportunities"),
            [opportunity(o, "proposal", dt.datetime.now(dt.UTC), 1) for o in normal])  # fmt: skip
    wait_until(time.time() + 5)
    before = {r["opportunity_id"] for r in firings(stack, settings)}
    assert set(normal) <= before
    first.terminate()
    restarted_at = time.time()
    workers.append(WorkerProcess(env, tmp_path / "w2.log").start())
    wait_until(time.time() + 6)
    after = [r for r in firings(stack, settings)
             if dt.datetime.fromisoformat(r["fired_at"]).timestamp() > restarted_at]  # fmt: skip
    assert set(normal) <= {r["opportunity_id"] for r in after}
    assert (
        not {r["opportunity_id"] for r in after}
        - set(normal)
        - {f"odd-{i}" for i in range(0, 8, 2)}
    )
