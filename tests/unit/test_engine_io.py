"""The engine's Faust seams without a broker: batches taken from a channel, partition batches."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from workers.engine.records import OUTPUT_ID_HEADER, Record
from workers.runtime.engine_io import _batches, batches


class Event:
    def __init__(self, offset: int, generation: int) -> None:
        self.message = SimpleNamespace(
            topic="in", partition=0, offset=offset, generation_id=generation, tracked=False
        )
        self.acked = False

    def ack(self) -> None:
        self.acked = True


def stream_of(events: list[Event], generation: int) -> Any:
    queue: asyncio.Queue[Event] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)

    async def anext() -> Event:
        if queue.empty():
            raise StopAsyncIteration
        return queue.get_nowait()

    tracked: list[Any] = []
    app = SimpleNamespace(
        consumer=SimpleNamespace(track_message=tracked.append),
        topics=SimpleNamespace(acking_topics={"in"}),
        flow_control=SimpleNamespace(is_active=lambda: True),
        consumer_generation_id=generation,
    )
    channel = SimpleNamespace(queue=queue, __anext__=anext)
    return SimpleNamespace(app=app, channel=channel, should_stop=False, tracked=tracked)


async def collect(stream: Any, size: int) -> list[list[Any]]:
    return [b async for b in batches(stream, size)]


def test_a_batch_is_what_the_channel_holds_up_to_its_size() -> None:
    events = [Event(i, 2) for i in range(5)]
    stream = stream_of(events, generation=2)
    got = asyncio.run(collect(stream, 3))
    assert [[e.message.offset for e in b] for b in got] == [[0, 1, 2], [3, 4]]
    assert len(stream.tracked) == 5  # tracked: Faust will not commit past them unacknowledged


def test_inputs_fetched_before_a_rebalance_are_dropped_not_acknowledged() -> None:
    old, new = Event(0, 1), Event(1, 2)
    got = asyncio.run(collect(stream_of([old, new], generation=2), 10))
    assert [[e.message.offset for e in b] for b in got] == [[1]]
    assert not old.acked  # acknowledging it would let the committed offset pass it


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room, self.records, self.closed = room, [], False

    def append(self, *, key: Any, value: Any, timestamp: Any, headers: Any) -> Any:
        if len(self.records) == self.room:
            return None
        self.records.append((key, value, headers))
        return object()

    def close(self) -> None:
        self.closed = True


def test_records_are_cut_into_partition_batches_with_their_output_id() -> None:
    producer = SimpleNamespace(create_batch=lambda: FakeBatch(room=2))
    records = [Record("out", 0, b"k", b"v%d" % i, f"id{i}", "g:0") for i in range(5)]
    cut = _batches(producer, records)
    assert [len(chunk) for chunk, _ in cut] == [2, 2, 1]
    first = cut[0][1].records[0]
    assert (OUTPUT_ID_HEADER, b"id0") in first[2]


def test_a_record_bigger_than_a_batch_is_named() -> None:
    producer = SimpleNamespace(create_batch=lambda: FakeBatch(room=0))
    with pytest.raises(ValueError, match="exceeds a batch"):
        _batches(producer, [Record("out", 0, b"k", b"v", "id", "g:0")])
