"""Up to when deadlines may be evaluated: every record that could have re-armed them is processed.

A deadline (an inactivity trigger, a time in stage) is judged at a tick from what the table
knows. After a crash, a rebalance or an outage the inputs that would have re-armed it (an
engagement, its buyer action, a stage change) may still wait in a backlog: judged at wall-clock
time, the deadline would fire although the buyer answered in time, and fire again from the
touch once the backlog is through.

The watermark says up to which time the log is processed. Every `observe` gets the end offsets
of the feeding topics and the consumer group's committed offsets, read at one moment `at`:

- snapshot `at` is *caught* once the group has committed up to its end offsets: every record
  written before `at` is processed, and (a batch's outputs are confirmed before its inputs are
  committed) everything it caused on an internal topic is written by then;
- one hop (an engagement → its buyer action) needs a second catch: the snapshot taken when the
  first was caught must be caught in turn. `depth` hops need `depth` catches in a chain.

Pure: no Kafka here. The runtime reads the offsets (workers/runtime/input_watermark.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Offsets = Mapping[str, int]  # "topic:partition" -> offset


@dataclass
class _Snapshot:
    at: float
    ends: dict[str, int]
    safe: list[float | None]  # safe[d]: the watermark of depth d+1 known when this was taken


@dataclass
class Watermark:
    """`observe(at, ends, committed)` → the time up to which the inputs are processed."""

    depth: int = 2
    keep: int = 4096  # snapshots remembered; a backlog older than that many reads holds longer
    _snapshots: list[_Snapshot] = field(default_factory=list)
    _safe: list[float | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError("depth must be at least 1")
        self._safe = [None] * self.depth

    @property
    def safe(self) -> float | None:
        """Deadlines up to this time may be judged; None until the first chain is complete."""
        return self._safe[-1]

    def observe(self, at: float, ends: Offsets, committed: Offsets) -> float | None:
        """`committed` read at `at`, then `ends` (in that order: if nothing is behind, nothing
        was behind at `at` either, on any topic, so every depth is safe up to `at`)."""
        snapshot = _Snapshot(at, dict(ends), list(self._safe))
        self._snapshots.append(snapshot)
        caught: _Snapshot | None = None
        done = 0  # the open snapshots are oldest first; ends only grow
        for candidate in self._snapshots:
            if not _covered(candidate.ends, committed):
                break  # a later snapshot is not caught either
            caught = candidate
            done += 1
        del self._snapshots[:done]  # caught: their part is in `_safe` below
        if caught is snapshot:
            self._safe = [at] * self.depth
        elif caught is not None:
            # depth 1: everything written before `caught.at` is processed; depth d+1: what was
            # safe at depth d when `caught` was taken, since what that caused is processed too
            new = [caught.at, *caught.safe[:-1]]
            self._safe = [_later(old, n) for old, n in zip(self._safe, new, strict=True)]
        snapshot.safe = list(self._safe)
        if len(self._snapshots) > self.keep:  # a long backlog: keep the newest (holds longer)
            del self._snapshots[: len(self._snapshots) - self.keep]
        return self.safe


def _covered(ends: Mapping[str, int], committed: Offsets) -> bool:
    return all(committed.get(tp, 0) >= end for tp, end in ends.items() if end > 0)


def _later(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
