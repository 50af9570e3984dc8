"""Reps as the router sees them: who sells what, when they work, how much they may take."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from schemas.records import RepDeleted, RepUpserted

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class LocalMinute(NamedTuple):
    """A minute as a rep's time zone reads it (working hours and day boundaries are whole
    minutes in every zone, so everything the router asks is the same within one)."""

    weekday: str
    hhmm: str
    day: str
    month: str


@lru_cache(maxsize=64)
def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=8192)
def _local_minute(zone: str, minute: int) -> LocalMinute:
    local = dt.datetime.fromtimestamp(minute * 60, zone_of(zone))
    day = local.strftime("%Y-%m-%d")
    return LocalMinute(WEEKDAYS[local.weekday()], local.strftime("%H:%M"), day, day[:7])


def local_minute(zone: str, now: float) -> LocalMinute:
    return _local_minute(zone, int(now // 60))


class Rep(msgspec.Struct, kw_only=True):
    rep_id: str
    product_lines: list[str] = []
    active: bool = True
    deleted: bool = False
    timezone: str = "UTC"
    working_hours: dict[str, list[tuple[str, str]]] | None = None
    out_of_office: list[tuple[float, float]] = []
    per_day: int | None = None
    per_month: int | None = None
    open_limit: int | None = None
    weight: float = 1.0
    updated_at: float = 0.0
    # counters kept by the router
    last_assigned_at: float = 0.0
    last_seq: int = 0  # the router's assignment sequence number of this rep's last lead
    day: str = ""
    assigned_day: int = 0
    month: str = ""
    assigned_month: int = 0
    open_leads: int = 0
    assigned_total: int = 0

    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)

    def in_hours(self, now: float) -> bool:
        if self.working_hours is None:
            return True
        local = local_minute(self.timezone, now)
        ranges = self.working_hours.get(local.weekday, [])
        return any(start <= local.hhmm < end for start, end in ranges)

    def add_working_time(self, start: float, seconds: float) -> float:
        """The instant `seconds` of this rep's working hours after `start` (wall time if none)."""
        if self.working_hours is None or not any(self.working_hours.values()):
            return start + seconds
        zone = self.zone()
        remaining = seconds
        day = dt.datetime.fromtimestamp(start, zone).date()
        for _ in range(3700):  # ten years of days at most
            for begin, end in sorted(self.working_hours.get(WEEKDAYS[day.weekday()], [])):
                lo = _at(day, begin, zone)
                hi = _at(day, end, zone)
                lo = max(lo, start)
                if hi <= lo:
                    continue
                if remaining <= hi - lo:
                    return lo + remaining
                remaining -= hi - lo
            day += dt.timedelta(days=1)
        return start + seconds

    def out_of_office_at(self, now: float) -> bool:
        return any(start <= now < end for start, end in self.out_of_office)

    def next_change(self, now: float) -> float:
        """The next instant after `now` at which time alone may change whether this rep can
        take a lead: a working-hours range or an absence starting or ending, or local midnight
        (the day's and the month's counters reset). Across a change of the zone's UTC offset,
        the next minute: a local clock that jumps is not worth predicting."""
        zone = self.zone()
        local = dt.datetime.fromtimestamp(now, zone)
        today = local.date()
        midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone)
        if midnight.utcoffset() != local.utcoffset():
            return (now // 60 + 1) * 60
        changes = [midnight.timestamp()]
        for begin, end in (self.working_hours or {}).get(WEEKDAYS[today.weekday()], []):
            changes += [at for at in (_at(today, begin, zone), _at(today, end, zone)) if at > now]
        for away, back in self.out_of_office:
            changes += [at for at in (away, back) if at > now]
        return min(changes)

    def counters_at(self, now: float) -> Rep:
        """Day and month counters reset at the boundary in the rep's time zone."""
        local = local_minute(self.timezone, now)
        day, month = local.day, local.month
        changes: dict[str, object] = {}
        if day != self.day:
            changes |= {"day": day, "assigned_day": 0}
        if month != self.month:
            changes |= {"month": month, "assigned_month": 0}
        return msgspec.structs.replace(self, **changes) if changes else self


def _at(day: dt.date, hhmm: str, zone: ZoneInfo) -> float:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    base = dt.datetime.combine(day, dt.time(), zone)
    return (base + dt.timedelta(hours=hours, minutes=minutes)).timestamp()


def apply_rep_event(rep: Rep | None, event: RepUpserted | RepDeleted) -> Rep | None:
    """The rep after a roster event (counters kept), or None for an older event."""
    at = event.occurred_at.timestamp()
    if rep is not None and at < rep.updated_at:
        return None
    base = rep or Rep(rep_id=event.rep_id)
    if isinstance(event, RepDeleted):
        return msgspec.structs.replace(base, deleted=True, active=False, updated_at=at)
    cap = event.capacity
    hours = None
    if event.working_hours is not None:
        hours = {
            day: [(r.start, r.end) for r in ranges] for day, ranges in event.working_hours.items()
        }
    return msgspec.structs.replace(
        base,
        product_lines=list(event.product_lines),
        active=event.active,
        deleted=False,
        timezone=event.timezone or "UTC",
        working_hours=hours,
        out_of_office=[(i.start.timestamp(), i.end.timestamp()) for i in event.out_of_office],
        per_day=cap.per_day if cap else None,
        per_month=cap.per_month if cap else None,
        open_limit=cap.open_leads if cap else None,
        weight=event.weight or 1.0,
        updated_at=at,
    )


def record_assignment(rep: Rep, now: float, seq: int) -> Rep:
    rep = rep.counters_at(now)
    return msgspec.structs.replace(
        rep,
        assigned_day=rep.assigned_day + 1,
        assigned_month=rep.assigned_month + 1,
        open_leads=rep.open_leads + 1,
        assigned_total=rep.assigned_total + 1,
        last_assigned_at=now,
        last_seq=seq,
    )


def record_release(rep: Rep) -> Rep:
    """A lead of this rep was closed, rejected or taken away: one open lead fewer."""
    return msgspec.structs.replace(rep, open_leads=max(0, rep.open_leads - 1))
