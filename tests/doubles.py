"""Test doubles for the I/O seams in workers/interfaces.py. For unit tests only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from workers.engine.memory_store import MemoryStore
from workers.engine.records import Record
from workers.interfaces import OutputsSeen, Sent


@dataclass
class FixedClock:
    """A clock that only moves when told to."""

    current: dt.datetime = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@dataclass
class RecordingSink:
    """Keeps what was sent, in order."""

    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))


# --- the state engine's seams -----------------------------------------------------------------
class DictStore(MemoryStore):
    """The engine's in-memory store (workers/engine/memory_store.py), restorable from a log."""

    def restore(self, log: RecordingLog) -> None:
        """Rebuild from the changelog (what Faust's recovery does after a wiped store)."""
        self.data.clear()
        for record in log.records_of(self.changelog_topic):
            items = {
                orjson.loads(record.key or b"null"): (
                    None if record.value is None else orjson.loads(record.value)
                )
            }
            self.apply(record.partition, items, None)


@dataclass
class RecordingLog:
    """A broker in a list: every record sent, in order, with its offset in its partition.

    `fail_next` makes the next sends fail (the records of the failed partition batches are not
    written), `crash_after` raises `Crash` after that many successful sends."""

    records: list[Record] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    fail_next: int = 0
    crash_after: int | None = None
    sends: int = 0

    async def send(self, records: Sequence[Record]) -> Sent:
        if self.crash_after is not None and self.sends >= self.crash_after:
            raise Crash(f"crashed before send {self.sends + 1}")
        self.sends += 1
        if self.fail_next:
            self.fail_next -= 1
            return Sent({}, list(records), ConnectionError("broker down"))
        offsets: dict[str, int] = {}
        for record in records:
            offset = self.offsets.get(record.tp, -1) + 1
            self.offsets[record.tp] = offsets[record.tp] = offset
            self.records.append(record)
        return Sent(offsets, [])

    def append(self, record: Record) -> int:
        """A record written by someone else (a CRM's producer): never fails; its offset."""
        offset = self.offsets[record.tp] = self.offsets.get(record.tp, -1) + 1
        self.records.append(record)
        return offset

    def records_of(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]

    def positions(self) -> dict[str, list[Record]]:
        by_tp: dict[str, list[Record]] = {}
        for record in self.records:
            by_tp.setdefault(record.tp, []).append(record)
        return by_tp

    async def ids_since(
        self, starts: Mapping[str, int], topics: Sequence[str], source: str
    ) -> OutputsSeen:
        ids: set[str] = set()
        ends: dict[str, int] = {}
        for tp, records in self.positions().items():
            if records[0].topic not in topics:
                continue
            ends[tp] = len(records) - 1
            for record in records[starts.get(tp, 0) :]:
                if record.source == source and record.output_id:
                    ids.add(record.output_id)
        return OutputsSeen(ids, ends)


class Crash(BaseException):
    """A simulated kill -9 of the worker: no `except Exception` of the worker's code stops it."""
