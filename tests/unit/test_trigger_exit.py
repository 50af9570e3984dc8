"""A stage visit that ends between two ticks still gets the periods it was due before it ended
(workers/runtime/trigger_agents.py `_fire_at_exit`): what fires must not depend on when ticks
come (every `tick_interval` live, at other moments in a backtest)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.in_process import InProcessWorker

RULES = """
version: exit
pipelines:
  - id: sales
    stages: [{id: qualification}, {id: meeting}, {id: closing}]
triggers:
  - {id: nudge, stage: qualification, every: 1d, catch_up: all, action: {type: ping}}
  - {id: silent, kind: inactivity, stage: meeting, every: 2d, action: {type: notify_owner}}
"""


def opportunity(w: InProcessWorker, o: str, stage: str, n: int, **more: Any) -> None:
    kind = "opportunity.upserted" if n == 0 else "opportunity.stage_changed"
    w.send("crm.opportunities", o, event_id=f"{o}-{n}", type=kind, opportunity_id=o,
           contact_id=f"c-{o}", pipeline_id="sales", stage_id=stage,
           status=more.pop("status", "open"), **more)  # fmt: skip


def fired(w: InProcessWorker) -> Counter[tuple[str, str, int]]:
    return Counter(
        (f["opportunity_id"], f["trigger_id"], f["period"])
        for f in w.outputs("crm.trigger-firings")
    )


def test_periods_due_before_the_visit_ended_fire_at_its_end_once(tmp_path: Path) -> None:
    w = InProcessWorker(RULES, tmp_path)
    for o in ("moved", "closed", "early"):
        opportunity(w, o, "qualification", 0)
    w.run()
    w.tick()  # the index is built; nothing is due yet
    w.advance(hours=23)
    opportunity(w, "early", "meeting", 1)  # left an hour before its first day was up
    w.advance(hours=26)  # 49 h in: periods 1 and 2 were due; no tick came since
    opportunity(w, "moved", "meeting", 1)
    opportunity(w, "closed", "qualification", 1, status="lost")
    w.run()
    assert fired(w) == {("moved", "nudge", 1): 1, ("moved", "nudge", 2): 1,
                        ("closed", "nudge", 1): 1, ("closed", "nudge", 2): 1}  # fmt: skip
    dues = {f["due_at"] for f in w.outputs("crm.trigger-firings") if f["period"] == 1}
    assert len(dues) == 1  # when it was due, not when the visit ended
    w.advance(hours=48)
    w.tick()  # a tick after the visit ended: nothing of it again
    opportunity(w, "closed", "qualification", 2, status="lost")  # the same close, later
    w.run()
    nudges = {k: n for k, n in fired(w).items() if k[1] == "nudge"}
    assert set(nudges.values()) == {1}
    assert len(nudges) == 4


def test_an_inactivity_period_fires_at_the_end_only_up_to_the_inputs_horizon(
    tmp_path: Path,
) -> None:
    """An engagement still in a backlog would re-arm a silence: at a visit's end an inactivity
    period fires only if the inputs are processed up to its due time."""
    w = InProcessWorker(RULES, tmp_path)
    opportunity(w, "seen", "meeting", 0)
    opportunity(w, "unseen", "meeting", 0)
    w.run()
    w.tick()
    w.advance(hours=50)
    w.send("crm.engagements", "c-other", event_id="e1", type="engagement.recorded",
           contact_id="c-other", kind="page_view")  # fmt: skip
    w.observe_inputs()  # a backlog: the horizon stays where the last tick left it
    opportunity(w, "unseen", "closing", 1)
    w.run()
    assert fired(w) == {}
    w.observe_inputs()  # every input processed up to now
    opportunity(w, "seen", "closing", 1)
    w.run()
    assert fired(w) == {("seen", "silent", 1): 1}


@pytest.mark.parametrize(("lateness", "fired_early"), [("0s", True), ("1h", False)])
def test_an_input_written_late_counts_within_allowed_lateness(
    tmp_path: Path, lateness: str, fired_early: bool
) -> None:
    """The CRM writes a close 36 minutes after it occurred, and 24 minutes after the period it
    cancels was due. A tick before it arrives fires that period, unless the deadline waits
    `scheduler.allowed_lateness` (an hour here); then the close counts, and nothing fires."""
    rules = RULES.replace("triggers:", f"scheduler: {{allowed_lateness: {lateness}}}\ntriggers:")
    w = InProcessWorker(rules, tmp_path)
    start = w.clock.now()
    opportunity(w, "o", "qualification", 0)
    w.run()
    w.tick()
    w.advance(hours=24, minutes=24)
    w.tick()  # the period was due 24 minutes ago; every input written so far is processed
    assert bool(fired(w)) is fired_early
    closed_at = (start + dt.timedelta(hours=23, minutes=48)).isoformat()
    opportunity(w, "o", "qualification", 1, status="lost", occurred_at=closed_at)
    w.run()
    w.advance(hours=2)
    w.tick()
    assert fired(w) == ({("o", "nudge", 1): 1} if fired_early else {})
