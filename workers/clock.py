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


def clock_from_setting(spec: str) -> SystemClock | AcceleratedClock:
    """'system', or 'accelerated:FACTOR[@ANCHOR_UNIX_SECONDS]'."""
    if spec == "system":
        return SystemClock()
    factor, _, anchor = spec.partition(":")[2].partition("@")
    return (
        AcceleratedClock(float(factor), float(anchor))
        if anchor
        else AcceleratedClock(float(factor))
    )
