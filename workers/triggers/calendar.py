"""Calendars that time-in-stage durations are counted on.

Calendar days count every second. Business days count only the seconds of working days
(the configured weekdays, minus holidays) in the calendar's time zone: "10 business days"
after Friday 15:00 is two weeks later on Friday 15:00, and a visit entered on a Saturday
starts counting on Monday 00:00.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workers.triggers.errors import TriggerConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400.0
# How far a business-day calendar counts from a stage entry (50 years): a time beyond it is
# never due (an OverflowError the schedule treats as "cannot be computed").
HORIZON = 50 * 365.25 * DAY
MEMO_DAYS = 4096  # days whose bounds a business calendar remembers (about 11 years)
MEMO_ADDS = 65536  # (start, seconds) a business calendar remembers the answer of


class Calendar(Protocol):
    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        """The instant `seconds` of counted time after `start`."""
        ...

    def fingerprint(self) -> str: ...


class CalendarDays:
    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        return start + dt.timedelta(seconds=seconds)

    def fingerprint(self) -> str:
        return "calendar"


@dataclass(frozen=True)
class BusinessDays:
    weekdays: frozenset[int]
    holidays: frozenset[dt.date]
    zone: ZoneInfo
    # remembered, bounded: each buyer action reschedules its opportunity, which asks for the
    # same due times again and walks the same few weeks
    _days: dict[dt.date, tuple[dt.datetime, dt.datetime]] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    _added: dict[tuple[dt.datetime, object, float], dt.datetime] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @classmethod
    def create(cls, weekdays: list[str], holidays: list[dt.date], timezone: str) -> BusinessDays:
        unknown = [d for d in weekdays if d not in WEEKDAYS]
        if unknown or not weekdays:
            raise TriggerConfigError(f"weekdays must be some of {', '.join(WEEKDAYS)}")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TriggerConfigError(f"{timezone!r} is not an IANA time zone") from None
        return cls(frozenset(WEEKDAYS.index(d) for d in weekdays), frozenset(holidays), zone)

    def is_working(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def _bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The day's start and end in UTC (23 or 25 hours apart when the clocks change)."""
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= MEMO_DAYS:
                self._days.clear()
            start = dt.datetime.combine(day, dt.time(), self.zone)
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.zone)
            found = self._days[day] = (start.astimezone(dt.UTC), end.astimezone(dt.UTC))
        return found

    def add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        key = (start, start.tzinfo, seconds)  # equal instants in two zones: two answers
        found = self._added.get(key)
        if found is None:
            if len(self._added) >= MEMO_ADDS:
                self._added.clear()
            found = self._added[key] = self._add(start, seconds)
        return found

    def _add(self, start: dt.datetime, seconds: float) -> dt.datetime:
        if seconds > HORIZON:  # counted day by day: never spend a tick on centuries
            raise OverflowError(f"{seconds:.0f} s is beyond the business calendar's horizon")
        remaining = seconds
        day = start.astimezone(self.zone).date()
        for _ in range(int(seconds / DAY * 7) + 3700):  # bounded: a year of holidays at most
            if self.is_working(day):
                lo, hi = self._bounds(day)
                begin = max(lo, start)
                available = (hi - begin).total_seconds()
                if remaining <= available:
                    return begin + dt.timedelta(seconds=remaining)
                remaining -= max(available, 0.0)
            day += dt.timedelta(days=1)
        raise TriggerConfigError("the business calendar has no working days ahead")

    def counted_seconds(self, start: dt.datetime, end: dt.datetime) -> float:
        """Counted seconds between two instants (for tests and metrics)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            if self.is_working(day):
                lo, hi = self._bounds(day)
                total += max(0.0, (min(hi, end) - max(lo, start)).total_seconds())
            day += dt.timedelta(days=1)
        return total

    def fingerprint(self) -> str:
        days = ",".join(WEEKDAYS[d] for d in sorted(self.weekdays))
        holidays = ",".join(sorted(h.isoformat() for h in self.holidays))
        return f"business:{days}:{holidays}:{self.zone.key}"
