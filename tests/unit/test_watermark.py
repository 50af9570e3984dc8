"""Deadlines wait for the inputs that re-arm them (workers/triggers/watermark.py): a property of
the watermark over simulated logs, and, in process, an inactivity trigger after a backlog."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.in_process import InProcessWorker
from workers.runtime.input_watermark import InputWatermark
from workers.settings import Settings
from workers.triggers.watermark import Watermark


@dataclass
class Log:
    """Two topics: `ext` (the CRM's) and `int`, where each processed ext record writes one."""

    ext: list[float] = field(default_factory=list)  # write times
    int_: list[float] = field(default_factory=list)  # write time of the ext record it came from
    done_ext: int = 0  # committed
    done_int: int = 0

    def ends(self) -> dict[str, int]:
        return {"ext:0": len(self.ext), "int:0": len(self.int_)}

    def committed(self) -> dict[str, int]:
        return {"ext:0": self.done_ext, "int:0": self.done_int}


STEPS = st.lists(st.sampled_from(["write", "process_ext", "process_int", "observe"]), max_size=80)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_the_watermark_never_passes_a_record_whose_consequence_is_unprocessed(
    steps: list[str],
) -> None:
    """Sound: every ext record written up to the watermark is processed, and so is what it
    wrote on the internal topic. Live: when nothing is behind, the watermark is the read time."""
    log, mark = Log(), Watermark(depth=2)
    for now, step in enumerate(steps):
        if step == "write":
            log.ext.append(now)
        elif step == "process_ext" and log.done_ext < len(log.ext):
            log.int_.append(log.ext[log.done_ext])  # the output goes out before the commit
            log.done_ext += 1
        elif step == "process_int" and log.done_int < len(log.int_):
            log.done_int += 1
        elif step == "observe":
            safe = mark.observe(now, log.ends(), log.committed())
            if safe is None:
                continue
            for i, written in enumerate(log.ext):
                if written <= safe:
                    assert i < log.done_ext, (safe, written)
            for i, cause in enumerate(log.int_):
                if cause <= safe:
                    assert i < log.done_int, (safe, cause)
            if log.done_ext == len(log.ext) and log.done_int == len(log.int_):
                assert safe == now


def test_a_chain_of_two_catches_is_needed_for_one_hop() -> None:
    mark = Watermark(depth=2)
    assert mark.observe(0, {"ext:0": 0, "int:0": 0}, {}) == 0  # idle: safe now
    # t=1: ext record written; t=2 read: ext behind
    assert mark.observe(2, {"ext:0": 1, "int:0": 0}, {"int:0": 0}) == 0
    # t=3 read: ext processed, its output written but not processed
    assert mark.observe(3, {"ext:0": 1, "int:0": 1}, {"ext:0": 1}) == 0
    # t=4 read: the output processed: everything up to 4 is
    assert mark.observe(4, {"ext:0": 1, "int:0": 1}, {"ext:0": 1, "int:0": 1}) == 4


RULES = """
version: backlog
pipelines:
  - id: sales
    stages: [{id: qualification}, {id: meeting}]
triggers:
  - {id: gone-silent, kind: inactivity, stage: meeting, every: 2d, action: {type: notify_owner}}
"""


def silence_after_backlog(tmp_path: Path, *, wall_clock: bool) -> list[dict[str, object]]:
    """o1 enters meeting; a day later c1 opens an email, but the engagement waits in a backlog
    (a crash, an outage) while the worker ticks 2.5 days after the stage entry."""
    w = InProcessWorker(RULES, tmp_path)
    if wall_clock:  # as before the watermark
        w.wiring.triggers.inputs.horizon = lambda now: now  # type: ignore[method-assign]
    w.send("crm.opportunities", "o1", event_id="o1-1", type="opportunity.upserted",
           opportunity_id="o1", contact_id="c1", pipeline_id="sales", stage_id="meeting",
           status="open")  # fmt: skip
    w.run()
    w.tick()
    w.advance(days=1)
    touched = w.clock.now()
    w.send("crm.engagements", "c1", event_id="open-1", type="engagement.recorded",
           contact_id="c1", kind="email_open")  # fmt: skip
    w.advance(days=1.5)
    w.tick()  # the engagement is still in the backlog here; the loop runs it after the tick
    w.tick()
    w.advance(days=1)  # 2.5 days after the touch
    w.tick()
    firings = w.outputs("crm.trigger-firings")
    due = dt.datetime.fromisoformat(firings[-1]["due_at"])
    assert due == touched + dt.timedelta(days=2)
    return firings


def test_silence_is_judged_after_the_backlog_that_re_arms_it(tmp_path: Path) -> None:
    firings = silence_after_backlog(tmp_path, wall_clock=False)
    assert len(firings) == 1, firings  # only from the touch


def test_without_the_hold_the_backlog_lets_silence_fire_early(tmp_path: Path) -> None:
    """The same history judged at wall-clock time: it fires from the stage entry as well, the
    failure the watermark prevents (the integration test's rare double firing after a kill)."""
    firings = silence_after_backlog(tmp_path, wall_clock=True)
    assert len(firings) == 2, firings


def test_deadlines_wait_for_a_backlog_at_most_backlog_hold() -> None:
    settings = Settings.from_env({"DEALSTREAM_BROKERS": "127.0.0.1:9"})
    inputs = InputWatermark(settings, clock=lambda: 0.0, hold=lambda: 300.0)
    assert inputs.horizon(10.0) is None  # no offsets read yet: nothing is judged
    assert inputs.horizon(300.0) == 300.0  # not read for backlog_hold: the clock
    ends = {"crm.engagements:0": 5}
    inputs.observe(310.0, ends, {"crm.engagements:0": 5})
    assert inputs.behind_since is None
    assert inputs.horizon(311.0) == 310.0
    inputs.observe(320.0, {"crm.engagements:0": 9}, {"crm.engagements:0": 5})  # behind
    assert inputs.horizon(600.0) == 310.0
    assert inputs.horizon(620.0) == 620.0  # behind for 300 s
    inputs.observe(700.0, {"crm.engagements:0": 9}, {"crm.engagements:0": 9})
    assert (inputs.behind_since, inputs.horizon(701.0)) == (None, 700.0)


def test_steady_traffic_never_gives_up_the_hold() -> None:
    """Always something in flight, but the watermark passes each moment within a read or two:
    the hold must not count from the first read that saw something behind."""
    settings = Settings.from_env({"DEALSTREAM_BROKERS": "127.0.0.1:9"})
    inputs = InputWatermark(settings, clock=lambda: 0.0, hold=lambda: 300.0)
    for second in range(1, 2000):
        at = float(second)  # one record a second, processed within the next read
        inputs.observe(at, {"crm.engagements:0": second}, {"crm.engagements:0": second - 1})
        horizon = inputs.horizon(at)
        if second > 3:  # a chain of two catches is complete
            assert horizon is not None
            assert 1.0 <= at - horizon <= 3.0, (at, horizon)  # held, never given up


def test_without_reads_for_backlog_hold_the_clock_decides() -> None:
    """Caught up, then no read succeeds (the broker gone, a bug): deadlines must not freeze at
    the last watermark for good."""
    settings = Settings.from_env({"DEALSTREAM_BROKERS": "127.0.0.1:9"})
    inputs = InputWatermark(settings, clock=lambda: 0.0, hold=lambda: 300.0)
    inputs.observe(10.0, {"crm.engagements:0": 5}, {"crm.engagements:0": 5})
    assert inputs.horizon(200.0) == 10.0
    assert inputs.horizon(310.0) == 310.0
