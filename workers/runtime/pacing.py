"""Long scans that share the event loop: yield often enough, and say how long a slice was.

A worker that has just restored 1M rows rebuilds its in-memory indexes from them (the due
index, the pipeline books). Done in one go that holds the event loop for seconds: no fetch, no
commit, no /readyz answer. A `Pacer` yields whenever its slice has run `budget` seconds and
keeps the longest slice (wall clock and CPU), which the rebuild logs and exports.

The garbage collector is the other thing that stops the loop: after a rebuild, millions of
long-lived objects sit in the young generations, and every full collection walks them all
(hundreds of milliseconds for a few million objects). `settle_heap` moves what is alive now
into the permanent generation (`gc.freeze`), so collections only walk what is new.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

SLICE_BUDGET = 0.01  # seconds a scan may hold the loop before it yields


class Pacer:
    """`if pacer.due(): await pacer.pause()` inside a loop; `finish()` at its end."""

    def __init__(
        self,
        budget: float = SLICE_BUDGET,
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self.budget = budget
        self.clock = clock
        self.cpu = cpu
        self.started = clock()
        self.longest = 0.0  # the longest slice, wall clock
        self.longest_cpu = 0.0  # the CPU time of that slice (less: GC, swapping, another thread)
        self.slices = 0
        self._slice_at = self.started
        self._slice_cpu = cpu()

    def due(self) -> bool:
        return self.clock() - self._slice_at >= self.budget

    async def pause(self) -> None:
        self._close()
        await asyncio.sleep(0)
        self._slice_at, self._slice_cpu = self.clock(), self.cpu()

    def finish(self) -> float:
        """Close the last slice; the wall time from start to now."""
        self._close()
        return self.clock() - self.started

    def _close(self) -> None:
        wall = self.clock() - self._slice_at
        self.slices += 1
        if wall > self.longest:
            self.longest = wall
            self.longest_cpu = self.cpu() - self._slice_cpu


async def run_paced(steps: Generator[None, None, T], pacer: Pacer | None = None) -> T:
    """What a step generator (pure code that yields between steps) returns, run on the loop
    in slices of `pacer`'s budget."""
    pacer = pacer or Pacer()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            pacer.finish()
            return done.value  # type: ignore[no-any-return]
        if pacer.due():
            await pacer.pause()


COLLECTOR_THRESHOLDS = (700, 10, 1000)  # Python's defaults are (700, 10, 10)


def tune_collector() -> None:
    """Rarer full collections. A full collection walks every tracked container that is not
    frozen, element by element: an index or a report being built holds lists and dicts of a
    million entries, and each walk took 50–100 ms here (while the objects in the generation
    were a few thousand). With most of the heap frozen, Python's rule for a full collection (a
    quarter more long-lived objects than the last one found) fired every few seconds; it is
    now considered after 1,000 middle-generation collections instead of 10. The young
    collections are left as they are (a larger first threshold slowed the restore)."""
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


REPLAY_THRESHOLDS = (100_000, 50, 50)  # a backtest's replay: see `replay_collector`


@contextmanager
def replay_collector() -> Iterator[None]:
    """Rare young collections while a replay runs (Python's thresholds restored after). A
    replay allocates as fast as the core runs and keeps much of it (each re-score makes a new
    state, snapshot and breakdown): a young collection every 700 new objects walked the newest
    of them again and again. Measured on a million events of the full-month shape, when a
    contact's ledger was still a Python list of up to 500 entries copied at every engagement
    (it is native now, and not tracked by the collector): 55 s of 177 s CPU in collections
    with the defaults, 5 s of 132 s with these, the same peak memory."""
    before = gc.get_threshold()
    gc.set_threshold(*REPLAY_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def settle_heap() -> None:
    """What is alive now is long-lived: keep the collector from walking it again."""
    gc.freeze()


def watch_collections(observe: Callable[[int, float], None]) -> Callable[[str, Any], None]:
    """A `gc.callbacks` entry calling `observe(generation, seconds)` after each collection."""
    started: list[float] = [0.0]

    def callback(phase: str, info: Any) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            observe(int(info.get("generation", -1)), time.perf_counter() - started[0])

    gc.callbacks.append(callback)
    return callback


async def watch_loop(observe: Callable[[float], None], every: float = 0.05) -> None:
    """Forever: how much later than asked the loop wakes a sleeper, i.e. how long something
    else held it (a scan, a collection, a big write). Catches what no slice measures."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time()
        await asyncio.sleep(every)
        observe(max(0.0, loop.time() - asked - every))
