"""Which periods of a trigger fire now, given what was already handled and the catch-up rule.

A *mark* records, per trigger and stage visit, the last period handled (fired or skipped by
catch-up) under a plan (the trigger's `every` and calendar). A changed plan re-plans from the
visit's start: the next period is the first whose due time is after the last handled one, so
nothing already fired fires again.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from workers.opportunity.state import Mark
from workers.triggers.calendar import HORIZON, CalendarDays
from workers.triggers.plan import Trigger


@dataclass(frozen=True, slots=True)
class Due:
    period: int
    due_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Decision:
    fire: tuple[Due, ...]
    mark: Mark | None  # the new mark; None when nothing changed
    next_due: dt.datetime | None  # the next period's due time, None when no more will fire
    skipped: int = 0  # due periods not fired because of catch_up


def next_period(trigger: Trigger, entered_at: dt.datetime, mark: Mark | None) -> int:
    if mark is None:
        return 1
    if mark.plan == trigger.plan:
        return mark.through + 1
    return last_period_due_by(trigger, entered_at, mark.due) + 1


def last_period_due_by(trigger: Trigger, entered_at: dt.datetime, at: float) -> int:
    """The largest k with due_at(k) ≤ at (0 if none), by exponential then binary search."""
    if isinstance(trigger.calendar, CalendarDays):  # every second counts: plain arithmetic
        k = max(0, math.floor((at - entered_at.timestamp()) / trigger.every))
        while k > 0 and trigger.due_at(entered_at, k).timestamp() > at:  # float rounding guard
            k -= 1
        while trigger.due_at(entered_at, k + 1).timestamp() <= at:
            k += 1
        return k

    def due(k: int) -> float:
        return trigger.due_at(entered_at, k).timestamp()

    if due(1) > at:
        return 0
    if at - entered_at.timestamp() > HORIZON:
        raise OverflowError("the stage entry is beyond the business calendar's horizon")
    lo, hi = 1, 2
    while due(hi) <= at:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if due(mid) <= at:
            lo = mid
        else:
            hi = mid
    return lo


# The most periods one decision fires: a catch-up of years of daily periods (a worker down for
# long, an entry far in the past) goes out in chunks, one per tick, never in one blocking burst.
MAX_PER_DECISION = 500


def decide(
    trigger: Trigger,
    entered_at: dt.datetime,
    mark: Mark | None,
    now: dt.datetime,
    grace: float,
) -> Decision:
    """Periods to fire now. `grace`: a period due longer ago than this counts as missed."""
    first = next_period(trigger, entered_at, mark)
    cap = trigger.max_firings
    if cap is not None and first > cap:
        return Decision((), None, None)
    last = last_period_due_by(trigger, entered_at, now.timestamp())
    if cap is not None:
        last = min(last, cap)
    if last < first:
        return Decision((), None, _due_or_none(trigger, entered_at, first))
    if trigger.catch_up == "all":
        periods = range(first, last + 1)
    elif trigger.catch_up == "latest":
        periods = range(last, last + 1)
    else:  # none: only periods within the grace, i.e. not missed
        on_time_from = last_period_due_by(trigger, entered_at, now.timestamp() - grace) + 1
        periods = range(max(first, on_time_from), last + 1)
    if len(periods) > MAX_PER_DECISION:  # a long catch-up goes out a chunk per tick
        periods = periods[:MAX_PER_DECISION]
        through = periods[-1]
        fire = tuple(Due(k, trigger.due_at(entered_at, k)) for k in periods)
        mark = Mark(trigger.plan, through, fire[-1].due_at.timestamp())
        return Decision(fire, mark, trigger.due_at(entered_at, through + 1), periods[0] - first)
    fire = tuple(Due(k, trigger.due_at(entered_at, k)) for k in periods)
    last_due = trigger.due_at(entered_at, last).timestamp()
    following = last + 1
    next_due = (
        None
        if cap is not None and following > cap
        else _due_or_none(trigger, entered_at, following)
    )
    skipped = (last - first + 1) - len(fire)
    return Decision(fire, Mark(trigger.plan, last, last_due), next_due, skipped)


def _due_or_none(trigger: Trigger, entered_at: dt.datetime, period: int) -> dt.datetime | None:
    if trigger.max_firings is not None and period > trigger.max_firings:
        return None
    return trigger.due_at(entered_at, period)
