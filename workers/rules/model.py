"""Typed model of the rules file. Sections are added by the capabilities that use them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Scalar = str | int | float | bool | None


class CalendarRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a trigger counts time: every second, or only the seconds of working days."""

    kind: Literal["calendar_days", "business_days"] = "calendar_days"
    weekdays: list[str] = msgspec.field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    holidays: list[dt.date] = []
    timezone: str = "UTC"


class TriggerRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A time-in-stage trigger (source 000): fires every `every` while in `stage`."""

    id: Name
    stage: Name
    every: str
    action: dict[str, Scalar]
    pipeline: Name = "*"
    max_firings: Annotated[int, msgspec.Meta(ge=1)] | None = None
    calendar: CalendarRule = CalendarRule()
    catch_up: Literal["latest", "all", "none"] = "latest"
    active: bool = True


class SchedulerRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How often due timers are looked for, and when a due period counts as missed."""

    tick_interval: str = "500ms"
    catch_up_grace: str = "60s"


class Rules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole rules file."""

    version: Name
    scheduler: SchedulerRule = SchedulerRule()
    triggers: list[TriggerRule] = []
