"""Replay one history through several rule sets at once, in simulated time.

Each rule set gets its own shadow worker (workers/backtest/shadow.py). The clock follows the
events' `occurred_at` (never backwards); between events it moves in steps of `tick` seconds,
and at each step every shadow ticks (triggers, decay, the router's queue and SLAs), as the
workers' timers would have. Records before `start` build the state (warm) or are skipped
(cold); outputs count once the clock is at `start`, until `end` (a firing, or a decision an SLA
expiry made, by when it was due).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import orjson

from schemas.catalog import INPUT_TOPICS
from workers.backtest import collector
from workers.backtest.errors import BacktestError
from workers.backtest.shadow import ShadowWorker, SimClock
from workers.backtest.tally import TOPICS, Tally
from workers.clock import parse_instant
from workers.engine.records import Record
from workers.ingest.decoder import Decoded, Decoder
from workers.ingest.errors import Rejection
from workers.rules import Rules
from workers.settings import Settings

EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
Progress = Callable[[int, dt.datetime], None]  # (records read, replay clock)


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime | None = None
    cold: bool = False  # skip what came before `start` instead of replaying it

    def __post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise BacktestError(f"--to {self.end.isoformat()} is not after --from")

    def holds(self, at: dt.datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass
class Stats:
    records: int = 0  # read from the history
    replayed: int = 0  # fed to the shadows (each once, whatever the number of rule sets)
    warm: int = 0  # of those, before `start`
    skipped: int = 0  # before `start` with --cold
    ticks: int = 0
    first: dt.datetime | None = None  # occurred_at of the first and last replayed record
    last: dt.datetime | None = None


class Replay:
    def __init__(
        self, settings: Settings, rule_sets: Mapping[str, Rules], window: Window, tick: float
    ) -> None:
        if tick <= 0:
            raise BacktestError("--tick must be longer than zero")
        self.window, self.tick = window, tick
        self.clock = SimClock(
            window.start if window.cold else dt.datetime.min.replace(tzinfo=dt.UTC)
        )
        self.tallies = {name: Tally() for name in rule_sets}
        self.shadows = {
            name: ShadowWorker(
                settings, rules, self.clock, self._recorder(name), TOPICS, self._scores(name)
            )
            for name, rules in rule_sets.items()
        }
        self.decoders = {
            settings.topic(t.name): Decoder(t, settings.max_message_bytes, settings.occurred_window)
            for t in INPUT_TOPICS
        }
        self.stats = Stats()
        self._next_tick: float | None = None
        # deadlines are judged `allowed_lateness` after they are due: those due before `end`
        # need ticks that long after it (the workers run on past it too)
        self.settle = max((s.wiring.triggers.lateness for s in self.shadows.values()), default=0.0)

    def _scores(self, name: str) -> Callable[[str, Callable[[], bytes]], None]:
        """Most outputs are scores: counted as they go out, and only each contact's last one
        is made and read, at the end."""
        tally, clock, window = self.tallies[name], self.clock, self.window

        def score(contact: str, made: Callable[[], bytes]) -> None:
            if window.holds(clock.current):
                tally.add_score(contact, made, clock.current)

        return score

    def _recorder(self, name: str) -> Callable[[str, bytes | None, bytes], None]:
        tally, clock, window = self.tallies[name], self.clock, self.window

        def record(topic: str, key: bytes | None, value: bytes) -> None:
            try:
                body = orjson.loads(value)
            except orjson.JSONDecodeError:
                return
            if not isinstance(body, dict):
                return
            # a firing, or a decision an SLA expiry made, counts when it was due (a tick may
            # come later); the rest when it went out
            at = _time(body.get("due_at")) or clock.current
            if window.holds(at):
                tally.add(topic, body, at)

        return record

    async def run(
        self,
        batches: AsyncIterator[list[tuple[int, Record]]],
        progress: Progress | None = None,
    ) -> Stats:
        with collector.frozen_between_batches():
            return await self._run(batches, progress)

    async def _run(
        self,
        batches: AsyncIterator[list[tuple[int, Record]]],
        progress: Progress | None = None,
    ) -> Stats:
        stats, window, clock = self.stats, self.window, self.clock
        cold, decoders = window.cold, self.decoders
        # the window's bounds and the clock as epoch seconds: an event's `at` is its
        # `occurred_at`'s, and comparing floats orders them as comparing the times does
        start = window.start.timestamp()
        stop = math.inf if window.end is None else window.end.timestamp()
        async for batch in batches:
            chunk: list[Record] = []
            decoded: list[Decoded | Rejection | None] = []
            stats.records += len(batch)
            now = clock.current.timestamp()  # the clock as the ticks may have moved it
            for _, record in batch:
                # decoded once for every shadow, by the workers' decoder of its topic; the
                # clock follows valid events only (one the workers dead-letter is replayed,
                # and dead-lettered there)
                decoder = decoders.get(record.topic)
                value = None if decoder is None else decoder.decode(record.key, record.value)
                if isinstance(value, Decoded):
                    at = value.at
                    if at >= stop:
                        continue  # after the window: read (for the extent) but not replayed
                    if cold and at < start:
                        stats.skipped += 1
                        continue
                    if self._next_tick is None:
                        self._next_tick = at + self.tick
                    elif at >= self._next_tick:
                        await self._feed(chunk, decoded)
                        chunk, decoded = [], []
                        await self._ticks_until(at)
                        now = clock.current.timestamp()
                    when = value.event.occurred_at
                    if at > now:
                        clock.current, now = when, at
                    if stats.first is None:
                        stats.first = when
                    stats.last = when
                if now < start:
                    stats.warm += 1
                chunk.append(record)
                decoded.append(value)
            await self._feed(chunk, decoded)
            collector.after_batch()
            if progress is not None:
                progress(stats.records, self.clock.current)
        end = window.end or (stats.last or window.start)
        await self._ticks_until(end.timestamp() + self.settle + self.tick)  # due before `end`
        for tally in self.tallies.values():
            tally.settle()
        return stats

    async def _feed(self, records: list[Record], decoded: list[Decoded | Rejection | None]) -> None:
        if not records:
            return
        self.stats.replayed += len(records)
        for shadow in self.shadows.values():
            await shadow.feed(records, decoded)

    async def _ticks_until(self, until: float) -> None:
        """Every tick due before `until`, each at its own time; ticks that would find nothing
        to do on any shadow (no trigger, decay, queued lead or SLA due) are skipped."""
        while self._next_tick is not None and self._next_tick <= until:
            due = min(shadow.next_due() for shadow in self.shadows.values())
            if due > self._next_tick:  # jump to the first tick at or after `due`
                steps = math.ceil((min(due, until + self.tick) - self._next_tick) / self.tick)
                self._next_tick += max(1, steps) * self.tick
                continue
            self.clock.move_to(dt.datetime.fromtimestamp(self._next_tick, dt.UTC))
            for shadow in self.shadows.values():
                await shadow.tick()
            self.stats.ticks += 1
            self._next_tick += self.tick


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None
