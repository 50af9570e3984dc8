"""A line's queue (workers/routing/queue.py) shares its keys with the queue it was made from:
every queue made, from any older one, holds what a list would, and no queue changes after."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from workers.routing import queue_rows
from workers.routing.queue import Queue
from workers.routing.queue_rows import read_rows, rows_of

KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
# (which queue made so far to start from, counted from the newest; queue or take out; key)
STEPS = st.lists(st.tuples(st.integers(0, 6), st.booleans(), KEYS), max_size=60)


def as_list(queue: list[str], key: str, queued: bool) -> list[str]:
    """The reference: a new list, `key` taken out, then put at the end when queued."""
    out = [k for k in queue if k != key]
    return [*out, key] if queued else out


@given(st.lists(KEYS, unique=True, max_size=5), STEPS)
def test_every_queue_made_holds_what_a_list_would(start: list[str], steps: Any) -> None:
    made: list[tuple[Queue, list[str]]] = [(Queue(start), list(start))]
    for back, queued, key in steps:
        queue, expected = made[max(0, len(made) - 1 - back)]
        new = queue.queued(key) if queued else queue.without(key)
        made.append((new, as_list(expected, key, queued)))
        for older, keys in made:  # none changed, whatever was appended to a shared list
            assert list(older) == keys
            assert len(older) == len(keys)
            assert older == keys
            assert [k for k in "abcdefgh" if k in older] == sorted(keys)
            assert older[:] == keys
            assert older[1:3] == keys[1:3]
            assert older[::-1] == keys[::-1]
            if keys:
                assert older[-1] == keys[-1]
                assert older[0] == keys[0]


def test_queuing_at_the_end_shares_the_keys_and_taking_out_copies() -> None:
    first = Queue(["a", "b"])
    second = first.queued("c")
    third = second.queued("d")
    assert third.kept(first) == 2
    assert third.kept(second) == 3
    assert first.queued("e").kept(first) == 0  # `first` no longer ends the list: a copy
    assert third.without("a").kept(third) == 0
    assert third.without("x") is third
    assert third.queued("b") == ["a", "c", "d", "b"]
    assert Queue.of(third) is third
    assert Queue.of(["a"]) == Queue(["a"])


@given(st.lists(KEYS, unique=True, max_size=5), STEPS, st.integers(1, 4))
def test_rows_written_from_what_is_kept_hold_the_last_queue(
    start: list[str], steps: Any, size: int
) -> None:
    """The router writes only the rows past what the queue before kept: the table still holds
    the newest queue, in order."""
    saved = queue_rows.ROW
    queue_rows.ROW = size
    try:
        queue = Queue(start)
        table: dict[str, Any] = {}
        rows, count = rows_of("erp", queue, 1)
        table.update(rows)
        for _, queued, key in steps:
            new = queue.queued(key) if queued else queue.without(key)
            rows, count = rows_of("erp", new, count, new.kept(queue))
            for row, value in rows.items():
                if value is None:
                    table.pop(row, None)
                else:
                    table[row] = value
            queue = new
        queues, counts = read_rows(table.items())
        assert queues["erp"] == list(queue)
        assert counts["erp"] == count
    finally:
        queue_rows.ROW = saved
