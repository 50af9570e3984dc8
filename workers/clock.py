"""Clocks: the system clock, and an accelerated one for the demo and for tests."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AcceleratedClock:
    """Time that runs `factor` times faster than the wall clock from the `anchor` on.

    now = anchor + (wall − anchor) × factor. Processes given the same anchor and factor agree
    on the time, so several workers and the simulator can share one accelerated clock.
    """

    factor: float
    anchor: float = field(default_factory=time.time)

    def now(self) -> dt.datetime:
        simulated = self.anchor + (time.time() - self.anchor) * self.factor
        return dt.datetime.fromtimestamp(simulated, dt.UTC)


class OffsetFileClock:
    """The system clock plus an offset in seconds read from a file (tests move time with it).

    The file is re-read at most every 100 ms; a missing or bad file means no offset.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0.0
        self._read_at = 0.0

    def now(self) -> dt.datetime:
        wall = time.time()
        if wall - self._read_at > 0.1:
            self._read_at = wall
            try:
                with open(self.path) as file:
                    self._offset = float(file.read().strip() or 0)
            except (OSError, ValueError):
                self._offset = 0.0
        return dt.datetime.fromtimestamp(wall + self._offset, dt.UTC)


def clock_from_setting(spec: str) -> SystemClock | AcceleratedClock | OffsetFileClock:
    """'system', 'accelerated:FACTOR[@ANCHOR_UNIX_SECONDS]' or 'offset-file:PATH'."""
    if spec == "system":
        return SystemClock()
    if spec.startswith("offset-file:"):
        return OffsetFileClock(spec.partition(":")[2])
    factor, _, anchor = spec.partition(":")[2].partition("@")
    return (
        AcceleratedClock(float(factor), float(anchor))
        if anchor
        else AcceleratedClock(float(factor))
    )


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 time as a user or an event gives it; without an offset it is UTC.
    ValueError for anything else."""
    when = dt.datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
