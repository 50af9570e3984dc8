"""All triggers of one opportunity at once: what fires now, the new state, the next due time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from workers.opportunity.state import OpportunityState
from workers.triggers.plan import Trigger, TriggerSet
from workers.triggers.schedule import Due, decide, next_period


@dataclass
class Evaluation:
    state: OpportunityState
    firings: list[tuple[Trigger, Due]] = field(default_factory=list)
    next_due: float | None = None
    changed: bool = False
    skipped: dict[str, int] = field(default_factory=dict)
    unschedulable: list[str] = field(default_factory=list)  # triggers whose time overflows


# What a date computation raises for a time outside the calendar's range (year 1..9999).
UNSCHEDULABLE = (OverflowError, ValueError, OSError)


def evaluate(
    state: OpportunityState,
    triggers: TriggerSet,
    now: dt.datetime,
    grace: float,
    inactivity: bool | None = None,
) -> Evaluation:
    """What fires as of `now`; `inactivity` True or False: those triggers only."""
    result = Evaluation(state)
    if not state.is_open:
        return result
    upcoming: list[float] = []
    for trigger in triggers.for_stage(state.pipeline_id, state.stage_id):
        if inactivity is not None and trigger.inactivity != inactivity:
            continue
        try:
            start = _start(state, trigger)
            decision = decide(trigger, start, result.state.mark(trigger.id), now, grace)
        except UNSCHEDULABLE:  # a time beyond what a calendar can count: never due
            result.unschedulable.append(trigger.id)
            continue
        result.firings.extend((trigger, due) for due in decision.fire)
        if decision.skipped:
            result.skipped[trigger.id] = decision.skipped
        if decision.mark is not None:
            result.state = result.state.with_mark(trigger.id, decision.mark)
            result.changed = True
        if decision.next_due is not None:
            upcoming.append(decision.next_due.timestamp())
    result.next_due = min(upcoming, default=None)
    return result


def next_due(state: OpportunityState, triggers: TriggerSet) -> float | None:
    """When this opportunity next needs looking at (None: nothing pending)."""
    if not state.is_open:
        return None
    upcoming = []
    for trigger in triggers.for_stage(state.pipeline_id, state.stage_id):
        try:
            start = _start(state, trigger)
            period = next_period(trigger, start, state.mark(trigger.id))
            if trigger.max_firings is None or period <= trigger.max_firings:
                upcoming.append(trigger.due_at(start, period).timestamp())
        except UNSCHEDULABLE:
            continue  # never due: it must not stop the others (see evaluate)
    return min(upcoming, default=None)


def _start(state: OpportunityState, trigger: Trigger) -> dt.datetime:
    return dt.datetime.fromtimestamp(state.anchor(trigger.inactivity), dt.UTC)
