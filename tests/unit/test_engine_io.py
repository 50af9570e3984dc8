"""The engine's Faust seams without a broker: batches taken from a channel, partition batches."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from workers.engine.records import OUTPUT_ID_HEADER, Record
from workers.runtime.engine_io import _batches


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
