"""A backtest's rule sets side by side: each replays the history in a process of its own, one
per core, on the same fixed offsets (workers/backtest/history.py `Bounds`). A rule set's
replay depends on nothing but the history and its rules (each has its own shadow worker and
ticks when its own work is due), so running them apart gives what running them together
gives, in a fraction of the time. The processes start with the allocator that
workers/backtest/allocator.py chooses (huge pages: a replay's memory is read at random).

With one core (or `processes=1`) they run together in this process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import multiprocessing
import os
import queue
import signal
import time
import traceback
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from workers.backtest import allocator
from workers.backtest.errors import BacktestError
from workers.backtest.history import Bounds, History
from workers.backtest.replay import Replay, Stats, Window
from workers.backtest.tally import Tally
from workers.engine.records import Record
from workers.rules import Rules
from workers.runtime.pacing import replay_collector
from workers.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, dt.datetime], None]  # (records read by the slowest, its clock)
Batches = AsyncIterator[list[tuple[int, Record]]]
Source = Callable[[Settings, Bounds], Batches]  # module-level: a process is given it by name
REPORT_EVERY = 0.2  # seconds between a process's progress reports
POLL = 0.5  # seconds the parent waits for a message before it checks on its processes


@dataclass
class Replayed:
    tallies: dict[str, Tally]
    stats: Stats


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def kafka_history(settings: Settings, bounds: Bounds) -> Batches:
    return History(settings).read(bounds)


def replay(
    settings: Settings,
    rule_sets: Mapping[str, Rules],
    window: Window,
    tick: float,
    bounds: Bounds,
    progress: Progress | None = None,
    processes: int | None = None,
    source: Source = kafka_history,
) -> Replayed:
    """Every rule set over the history within `bounds`: each in a process of its own when
    `processes` (by default, the cores) is more than one, else together in this process."""
    job = _Job(settings, window, tick, bounds, source)
    if (processes or cores()) <= 1:
        return _run_together(job, rule_sets, progress)
    return _apart(job, rule_sets, progress)


@dataclass(frozen=True)
class _Job:
    """What every process of one backtest shares."""

    settings: Settings
    window: Window
    tick: float
    bounds: Bounds
    source: Source


def _run_together(job: _Job, rule_sets: Mapping[str, Rules], progress: Progress | None) -> Replayed:
    """`asyncio.run` of `_together`, its result handed back beside the task, not as the
    task's own result. As `asyncio.run` ends, it puts back the SIGINT handler it replaced, and
    Python 3.11's `signal.signal` turns the handler it replaces (which holds the task) into
    an enum if it can, building an error message it never raises: the repr of the task, and so
    of the whole replay's result (0.5 s of a 22 s replay of 200,000 events, and growing with
    the history)."""
    result: list[Replayed] = []

    async def main() -> None:
        result.append(await _together(job, rule_sets, progress))

    asyncio.run(main())
    return result[0]


async def _together(
    job: _Job, rule_sets: Mapping[str, Rules], progress: Progress | None
) -> Replayed:
    run = Replay(job.settings, rule_sets, job.window, job.tick)
    with replay_collector():
        stats = await run.run(job.source(job.settings, job.bounds), progress)
    return Replayed(run.tallies, stats)


def _apart(job: _Job, rule_sets: Mapping[str, Rules], progress: Progress | None) -> Replayed:
    context = multiprocessing.get_context("spawn")  # no forked event loop, client or lock
    messages: Any = context.Queue()
    children = {
        name: context.Process(
            target=_child,
            args=(job, name, rules, messages),
            name=f"dealstream-backtest-{name}",
            daemon=True,
        )
        for name, rules in rule_sets.items()
    }
    variables = allocator.environment(
        job.settings.backtest_allocator, os.environ, allocator.probe()
    )
    with allocator.applied(variables):  # what the processes start with
        for child in children.values():
            child.start()
    done: dict[str, tuple[Tally, Stats]] = {}
    read: dict[str, tuple[int, dt.datetime]] = {}
    gone: set[str] = set()  # ended without a result at the last empty poll
    try:
        while len(done) < len(children):
            try:
                message = messages.get(timeout=POLL)
            except queue.Empty:
                gone = _ended_without_result(children, done, gone)
                continue
            kind, name = message[0], message[1]
            if kind == "error":
                log.debug("the replay of the %s rules:\n%s", name, message[3])
                raise BacktestError(message[2])
            if kind == "done":
                done[name] = (message[2], message[3])
            elif kind == "progress":
                read[name] = (message[2], message[3])
                if progress is not None and len(read) == len(children):
                    progress(*min(read.values(), key=lambda r: r[0]))
    finally:
        for child in children.values():
            if child.is_alive():
                child.terminate()
            child.join(timeout=5)
        messages.close()
    return Replayed({name: tally for name, (tally, _) in done.items()}, _merged_stats(done))


def _ended_without_result(
    children: Mapping[str, Any], done: Mapping[str, Any], before: set[str]
) -> set[str]:
    """The processes ended without a result. One found so at two empty polls in a row is an
    error: a result sent just before the end has had a poll's time to arrive."""
    ended = {n for n, child in children.items() if n not in done and child.exitcode is not None}
    for name in sorted(ended & before):
        raise BacktestError(
            f"the replay of the {name} rules stopped without a result "
            f"(exit code {children[name].exitcode})"
        )
    return ended


def _merged_stats(done: Mapping[str, tuple[Tally, Stats]]) -> Stats:
    """One history: every process read and replayed the same records; ticks are counted for
    the rule set that needed the most (each ticks only when its own work is due)."""
    all_stats = [stats for _, stats in done.values()]
    return replace(all_stats[0], ticks=max(s.ticks for s in all_stats))


def _child(job: _Job, name: str, rules: Rules, messages: Any) -> None:
    """One rule set's replay, in its own process: progress, then its tally (or one line)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    logging.basicConfig(level=logging.WARNING)
    last = 0.0

    def report(records: int, clock: dt.datetime) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= REPORT_EVERY:
            last = now
            messages.put(("progress", name, records, clock))

    try:
        replayed = _run_together(job, {name: rules}, report)
    except BacktestError as exc:
        messages.put(("error", name, str(exc), ""))
    except Exception as exc:  # a bug: one line, and the traceback for --debug
        line = f"the replay of the {name} rules failed: {exc!r}"
        messages.put(("error", name, line, traceback.format_exc()))
    else:
        messages.put(("done", name, replayed.tallies[name], replayed.stats))
