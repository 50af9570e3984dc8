"""Checks across fields that a type alone cannot express (unique ids, durations, calendars)."""

from __future__ import annotations

from workers.rules.errors import RulesError
from workers.rules.model import Rules
from workers.triggers.durations import parse_duration
from workers.triggers.errors import TriggerConfigError
from workers.triggers.plan import compile_trigger


def check_rules(rules: Rules, file: str) -> None:
    """Raise RulesError for cross-field problems."""
    for name in ("tick_interval", "catch_up_grace"):
        value = getattr(rules.scheduler, name)
        try:
            parse_duration(value)
        except TriggerConfigError as exc:
            raise RulesError(file, f"$.scheduler.{name}", value, str(exc)) from None
    seen: set[str] = set()
    for i, trigger in enumerate(rules.triggers):
        if trigger.id in seen:
            raise RulesError(file, f"$.triggers[{i}].id", trigger.id, "trigger ids must be unique")
        seen.add(trigger.id)
        try:
            parse_duration(trigger.every)
        except TriggerConfigError as exc:
            raise RulesError(file, f"$.triggers[{i}].every", trigger.every, str(exc)) from None
        try:
            compile_trigger(trigger)
        except TriggerConfigError as exc:
            cal = trigger.calendar
            raise RulesError(file, f"$.triggers[{i}].calendar", cal.timezone, str(exc)) from None
        if "type" not in trigger.action:
            raise RulesError(
                file, f"$.triggers[{i}].action", trigger.action, "an action needs a `type`"
            )
