"""Triggers compiled from the rules file: parsed durations, calendars, and a lookup index."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.rules.model import Scalar, TriggerRule
from workers.triggers.calendar import BusinessDays, Calendar, CalendarDays
from workers.triggers.durations import parse_duration

ANY = "*"


@dataclass(frozen=True)
class Trigger:
    id: str
    pipeline: str
    stage: str
    every: float
    action: dict[str, Scalar]
    calendar: Calendar
    catch_up: str = "latest"
    max_firings: int | None = None
    active: bool = True
    kind: str = "time_in_stage"  # or "inactivity": counted from the last engagement
    plan: str = field(init=False)

    def __post_init__(self) -> None:
        # The schedule's identity: a change of `every` or calendar re-plans from the visit start.
        raw = f"{self.every!r}|{self.calendar.fingerprint()}"
        object.__setattr__(self, "plan", hashlib.blake2b(raw.encode(), digest_size=6).hexdigest())

    def due_at(self, entered_at: dt.datetime, period: int) -> dt.datetime:
        """Period k is due k × every after the visit began, counted on the trigger's calendar."""
        return self.calendar.add(entered_at, period * self.every)

    def matches(self, pipeline: str, stage: str) -> bool:
        return self.stage == stage and self.pipeline in (ANY, pipeline)

    @property
    def inactivity(self) -> bool:
        return self.kind == "inactivity"

    @property
    def move_to(self) -> str | None:
        """The stage this trigger's action asks the CRM to move the opportunity to, if any."""
        target = self.action.get("move_to")
        return str(target) if target not in (None, "") else None


def compile_trigger(rule: TriggerRule) -> Trigger:
    cal = rule.calendar
    calendar: Calendar = (
        BusinessDays.create(cal.weekdays, cal.holidays, cal.timezone)
        if cal.kind == "business_days"
        else CalendarDays()
    )
    return Trigger(
        id=rule.id,
        pipeline=rule.pipeline,
        stage=rule.stage,
        every=parse_duration(rule.every),
        action=dict(rule.action),
        calendar=calendar,
        catch_up=rule.catch_up,
        # an inactivity trigger fires once per silence period unless told otherwise
        max_firings=rule.max_firings or (1 if rule.kind == "inactivity" else None),
        active=rule.active,
        kind=rule.kind,
    )


class TriggerSet:
    """The active triggers, found by (pipeline, stage) without scanning them all."""

    def __init__(self, triggers: Iterable[Trigger]) -> None:
        self.all = [t for t in triggers if t.active]
        self._by_stage: dict[str, list[Trigger]] = defaultdict(list)
        for trigger in self.all:
            self._by_stage[trigger.stage].append(trigger)
        self.has_inactivity = any(t.inactivity for t in self.all)  # asked at every engagement
        self._silence: dict[tuple[str, str], bool] = {}  # (pipeline, stage) -> any inactivity

    @classmethod
    def from_rules(cls, rules: Iterable[TriggerRule]) -> TriggerSet:
        return cls(compile_trigger(r) for r in rules)

    def for_stage(self, pipeline: str, stage: str) -> list[Trigger]:
        return [t for t in self._by_stage.get(stage, ()) if t.matches(pipeline, stage)]

    def counts_activity(self, pipeline: str, stage: str) -> bool:
        """Whether a trigger of this stage counts from the last engagement (inactivity)."""
        found = self._silence.get((pipeline, stage))
        if found is None:
            found = any(t.inactivity for t in self.for_stage(pipeline, stage))
            self._silence[(pipeline, stage)] = found
        return found
