"""The backtest's merge of the input partitions (workers/backtest/history.py `_merged`): by
record timestamp, the order the workers received them in; records of one millisecond by their
`occurred_at`, so the replay's clock never passes an event's time before applying it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from workers.backtest.history import _merged


@dataclass(frozen=True)
class Message:
    offset: int
    timestamp: int
    value: bytes
    key: bytes | None = None


class Partitions:
    """A consumer over fixed partitions: each `getmany` hands over a partition's next two."""

    def __init__(self, records: dict[TopicPartition, list[tuple[int, bytes]]]) -> None:
        self.messages = {
            tp: [Message(i, millis, value) for i, (millis, value) in enumerate(items)]
            for tp, items in records.items()
        }
        self.positions = dict.fromkeys(records, 0)

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, *tps: TopicPartition, timeout_ms: int) -> dict[Any, list[Message]]:
        out = {}
        for tp in tps:
            at = self.positions[tp]
            out[tp] = self.messages[tp][at : at + 2]
            self.positions[tp] = at + len(out[tp])
        return out


def event(name: str, occurred: str) -> bytes:
    return f'{{"event_id":"{name}","occurred_at":"{occurred}"}}'.encode()


def merged(records: dict[TopicPartition, list[tuple[int, bytes]]]) -> list[bytes]:
    async def run() -> list[bytes]:
        consumer: Any = Partitions(records)
        ends = {tp: len(items) for tp, items in records.items()}
        out: list[bytes] = []
        async for batch in _merged(consumer, list(records), ends):
            out.extend(record.value or b"" for _, record in batch)
        return out

    return asyncio.run(run())


A, B = TopicPartition("crm.opportunities", 0), TopicPartition("crm.engagements", 1)


def test_one_millisecond_goes_by_occurred_at_and_milliseconds_by_arrival() -> None:
    late = event("late", "2026-11-25T22:05:00Z")
    early = event("early", "2026-11-25T23:53:05+02:00")  # 21:53:05 UTC
    later_ms = event("next-ms", "2026-11-25T21:00:00Z")  # written after: comes after
    assert merged({A: [(7, late), (9, later_ms)], B: [(7, early)]}) == [early, late, later_ms]


def test_a_record_without_a_time_goes_by_its_timestamp() -> None:
    bad = b'{"event_id":"x","occurred_at":"soon"}'
    none = b"not json"
    first = event("a", "2026-11-25T22:05:00Z")
    out = merged(
        {A: [(5, none), (7, first)], B: [(6, bad), (8, event("b", "2020-01-01T00:00:00Z"))]}
    )
    assert out[:3] == [none, bad, first]
    assert len(out) == 4
