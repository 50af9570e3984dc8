from __future__ import annotations


class TriggerConfigError(ValueError):
    """A trigger definition that cannot be planned (bad duration, time zone, calendar)."""
