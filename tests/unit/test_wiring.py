"""Every feature's wiring on the engine, in process (tests/in_process.py): the real agents'
batch handlers, ticks and internal hops over dict stores and a recording broker, with a fixed
clock, including a crash at every send, a replay of every batch and a wiped store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.doubles import Crash
from tests.in_process import Broker, InProcessWorker

RULES = """
version: wiring
pipelines:
  - id: sales
    stages: [{id: qualification}, {id: meeting}, {id: proposal}, {id: closing}, {id: nurture}]
automation:
  stage_moves:
    - {id: demo-meeting, when: demo_request, pipeline: sales, to: meeting}
triggers:
  - {id: stale-proposal, stage: proposal, every: 1d, action: {type: ping}}
  - {id: gone-silent, kind: inactivity, stage: meeting, every: 2d, action: {type: notify_owner}}
scoring:
  profile:
    contact:
      - {id: hot, field: lead_status, equals: Hot, points: 20}
  engagement:
    rules: [{id: demo, kind: demo_request, points: 40}]
  sales_ready: {threshold: 40, hysteresis: 10}
routing:
  product_lines:
    crm: {policy: relationship_owner, fallback: round_robin, ignore_hours: true, sla: 4h}
"""
OUTPUTS = (
    "crm.lead-scores",
    "crm.trigger-firings",
    "crm.stage-moves",
    "crm.lead-assignments",
    "crm.owner-changes",
    "crm.rep-notifications",
    "crm.dead-letters",
)
Step = Callable[[InProcessWorker], Any]
STAGES = ["qualification", "proposal", "qualification", "proposal", "meeting", "meeting"]


def crm_day() -> list[Step]:
    """A small CRM's day and the two days after it, as steps; inputs go in once each."""

    def inputs(w: InProcessWorker) -> None:
        for rep in ("r1", "r2"):
            w.send("crm.reps", rep, event_id=f"rep-{rep}", type="rep.upserted", rep_id=rep,
                   product_lines=["crm"], active=True)  # fmt: skip
        for i in range(6):
            c, o = f"c{i}", f"o{i}"
            owner = "owner-a" if i % 3 == 0 else None
            w.send("crm.contacts", c, event_id=f"u-{c}", type="contact.upserted", contact_id=c,
                   owner_id=owner, fields={"lead_status": "Hot" if i % 2 else "Warm"})  # fmt: skip
            w.send("crm.opportunities", o, event_id=f"op-{o}", type="opportunity.upserted",
                   opportunity_id=o, contact_id=c, pipeline_id="sales",
                   stage_id=STAGES[i], status="open",
                   amount=1000 * (i + 1))  # fmt: skip

    def buyers(w: InProcessWorker) -> None:
        for i in range(0, 6, 2):  # demos: scores, sales-ready, routing, stage moves
            c = f"c{i}"
            w.send("crm.engagements", c, event_id=f"demo-{c}", type="engagement.recorded",
                   contact_id=c, kind="demo_request", product_line="crm")  # fmt: skip
        w.send(
            "crm.engagements",
            "c2",
            event_id="demo-c2",
            type="engagement.recorded",
            contact_id="c2",
            kind="demo_request",
            product_line="crm",
        )  # a duplicate
        w.send(
            "crm.contacts",
            "c1",
            event_id="u-c1-b",
            type="contact.upserted",
            contact_id="c1",
            owner_id="owner-b",
            fields={"lead_status": "Hot"},
        )  # owner sync
        w.send("crm.contacts", "c5", event_id="bad", type="contact.upserted")  # a dead letter

    def accept(w: InProcessWorker) -> None:
        w.send("crm.rep-activities", "c4", event_id="acc-c4", type="lead.accepted",
               contact_id="c4", rep_id="r1")  # fmt: skip

    def later(hours: float) -> Step:  # time passes (never crashes: not redone)
        return lambda w: w.advance(hours=hours)

    tick = InProcessWorker.tick
    return [inputs, InProcessWorker.run, buyers, InProcessWorker.run, accept, InProcessWorker.run,
            later(5), tick, later(20), tick, later(24), tick, later(24), tick]  # fmt: skip


def play(
    tmp_path: Path, steps: list[Step], *, crash_after: int | None = None, wiped: bool = False
) -> tuple[InProcessWorker, int]:
    """Run the steps; on a crash restart the worker and redo the step that crashed (inputs are
    only appended, so a crash is always inside a run or a tick). Returns the last worker and
    the crashes seen."""
    worker = InProcessWorker(RULES, tmp_path, broker=Broker())
    worker.broker.log.crash_after = crash_after
    crashes = 0
    for step in steps:
        while True:
            try:
                step(worker)
                break
            except Crash:
                crashes += 1
                worker = worker.restart(wiped=wiped)
    worker.run()  # anything a crash left for the next poll
    return worker, crashes


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> InProcessWorker:
    worker, crashes = play(tmp_path_factory.mktemp("reference"), crm_day())
    assert crashes == 0
    return worker


def tables(worker: InProcessWorker) -> dict[str, dict[str, Any]]:
    return {
        name: worker.table(name)
        for name in worker.broker.stores
        if not name.startswith("outbox")  # engine checkpoints differ with the batches
    }


def test_every_feature_produces_its_outputs(reference: InProcessWorker) -> None:
    w = reference
    scores = w.outputs("crm.lead-scores")
    assert {s["contact_id"] for s in scores} == {f"c{i}" for i in range(6)}
    assert {s["contact_id"] for s in scores if s["sales_ready"]} == {"c0", "c2", "c4"}
    decisions = Counter((a["contact_id"], a["decision"]) for a in w.outputs("crm.lead-assignments"))
    assert decisions[("c0", "owner_notified")] == 1  # c0 has an owner: told, not reassigned
    assert decisions[("c2", "assigned")] == 1
    assert decisions[("c2", "reassigned")] >= 1  # not accepted within 4 h
    assert decisions[("c4", "assigned")] == 1  # accepted in time: kept
    assert decisions[("c4", "reassigned")] == 0
    moves = w.outputs("crm.stage-moves")
    assert {(m["opportunity_id"], m["to_stage_id"]) for m in moves} == {
        ("o0", "meeting"),
        ("o2", "meeting"),
    }
    firings = Counter(
        (f["trigger_id"], f["opportunity_id"]) for f in w.outputs("crm.trigger-firings")
    )
    assert firings[("stale-proposal", "o1")] == 3  # a day, then every day the test lasts
    assert firings[("gone-silent", "o5")] == 1
    owners = w.outputs("crm.owner-changes")
    assert ("o1", "owner-b", "contact_owner_changed") in {
        (o["opportunity_id"], o["new_owner_id"], o["reason"]) for o in owners
    }
    assert len(w.outputs("crm.dead-letters")) == 1
    kinds = Counter(n["kind"] for n in w.outputs("crm.rep-notifications"))
    assert kinds["lead_assigned"] > 0
    assert max(w.output_ids().values()) == 1


def test_a_crash_at_any_send_loses_no_output_and_repeats_none(
    reference: InProcessWorker, tmp_path: Path
) -> None:
    """A kill -9 before each of the reference run's sends, in turn (outputs and changelog of
    every engine: ingest, contacts, opportunities, router): the same outputs, each once, and
    the same tables."""
    expected, state = set(reference.output_ids()), tables(reference)
    for n in range(reference.broker.log.sends):
        worker, crashes = play(tmp_path / str(n), crm_day(), crash_after=n)
        assert crashes == 1, n
        ids = worker.output_ids()
        assert set(ids) == expected, (n, set(ids) ^ expected)
        assert max(ids.values()) == 1, (n, [i for i, k in ids.items() if k > 1])
        assert tables(worker) == state, n


def test_a_crash_with_a_wiped_store_restores_from_the_changelog(
    reference: InProcessWorker, tmp_path: Path
) -> None:
    """The memory store (or a lost volume): the new worker's tables come from the changelogs
    the engine wrote, and nothing is lost or sent twice."""
    expected = set(reference.output_ids())
    for n in range(0, reference.broker.log.sends, 3):
        worker, _ = play(tmp_path / str(n), crm_day(), crash_after=n, wiped=True)
        ids = worker.output_ids()
        assert set(ids) == expected, (n, set(ids) ^ expected)
        assert max(ids.values()) == 1, n


def test_every_batch_processed_again_sends_nothing_twice(
    reference: InProcessWorker, tmp_path: Path
) -> None:
    """Offsets replayed after a rebalance (Faust #502, #606): every input and internal record
    again, through a new worker with the same stores."""
    worker, _ = play(tmp_path, crm_day())
    before = worker.output_ids()
    worker.broker.committed.clear()
    again = worker.restart()
    again.run()
    assert again.output_ids() == before


def test_two_inputs_for_one_key_in_one_batch_are_applied_in_order_and_written_once(
    tmp_path: Path,
) -> None:
    w = InProcessWorker(RULES, tmp_path)
    w.send("crm.contacts", "k", event_id="u1", type="contact.upserted", contact_id="k",
           fields={"lead_status": "Hot"})  # fmt: skip
    w.send("crm.engagements", "k", event_id="d1", type="engagement.recorded", contact_id="k",
           kind="demo_request")  # fmt: skip
    w.send("crm.contacts", "k", event_id="u2", type="contact.upserted", contact_id="k",
           fields={"lead_status": "Cold"})  # fmt: skip
    w.run()
    scores = w.outputs("crm.lead-scores")
    assert [(s["event_id"], s["total"]) for s in scores] == [("u1", 20), ("u2", 0), ("d1", 40)]
    contacts = w.wiring.scoring.table
    changelog = [r for r in w.broker.log.records if r.topic == f"{contacts}-changelog"]
    assert [r.key for r in changelog] == [b'"k"', b'"k"']  # one per batch, not per event


def test_an_input_that_makes_a_step_fail_is_its_dead_letter_and_the_batch_goes_on(
    tmp_path: Path,
) -> None:
    """Only bad input is a dead letter: here the input is valid, but a step fails on it (a
    bug the input triggers). It is dead-lettered with the error; the others of the batch are
    applied, and processing the batch again sends that dead letter once."""
    w = InProcessWorker(RULES, tmp_path)
    _, handle = w.wiring.engines.handlers[w.settings.topic("crm.contacts")]
    ingest = handle.__self__  # type: ignore[attr-defined]

    def fails_on_poison(tx: Any, decoded: Any, partition: int) -> None:
        if decoded.key == "poison":
            raise ValueError("a step failed on this input")

    ingest.steps.insert(0, fails_on_poison)
    for key in ("a", "poison", "b"):
        w.send("crm.contacts", key, event_id=f"u-{key}", type="contact.upserted", contact_id=key,
               fields={"lead_status": "Hot"})  # fmt: skip
    w.run()
    letters = w.outputs("crm.dead-letters")
    assert [(d["key"], d["error"]["code"]) for d in letters] == [("poison", "processing_error")]
    assert "ValueError: a step failed on this input" in letters[0]["error"]["message"]
    assert {s["contact_id"] for s in w.outputs("crm.lead-scores")} >= {"a", "b"}
    w.broker.committed.clear()
    again = w.restart()
    again.wiring.engines.handlers[w.settings.topic("crm.contacts")][1].__self__.steps.insert(
        0, fails_on_poison
    )
    again.run()
    assert len(again.outputs("crm.dead-letters")) == 1
