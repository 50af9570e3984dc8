"""Durations in the rules file: "10d", "12h", "90s", "1d12h", "500ms", ISO 8601 "P10D"."""

from __future__ import annotations

import re

from workers.triggers.errors import TriggerConfigError

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_SHORT = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|[wdhms]))+$")
_SHORT_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[wdhms])")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str, *, zero: bool = False) -> float:
    """Seconds in a duration; raises TriggerConfigError for anything else, and for zero unless
    `zero`."""
    value = text.strip()
    seconds: float
    if _SHORT.match(value):
        seconds = sum(float(n) * _UNITS[u] for n, u in _SHORT_PART.findall(value))
    else:
        iso = _ISO.match(value.upper())
        if not iso or value.upper() in ("P", "PT") or value.upper().endswith("T"):
            raise TriggerConfigError(
                f"{text!r} is not a duration (use 10d, 12h, 90s, 1d12h or ISO 8601 like P10D)"
            )
        seconds = sum(float(v) * _UNITS[k] for k, v in iso.groupdict().items() if v)
    if seconds < 0 or (seconds == 0 and not zero):
        raise TriggerConfigError(f"{text!r} must be longer than zero")
    return seconds
