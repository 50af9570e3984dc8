"""Partitions whose commit cannot move are sought back to it (workers/runtime/stall_guard.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, NamedTuple

from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree  # type: ignore[import-untyped]

from workers.runtime.feeds import never_committed
from workers.runtime.stall_guard import PartitionView, StallGuard, look_and_seek, stuck


def view(committed: int | None = 100, read: int | None = 99, head: int | None = None,
         highwater: int | None = 200, idle: bool = False) -> PartitionView:  # fmt: skip
    return PartitionView(committed, read, head, highwater, idle)


def test_what_counts_as_stuck() -> None:
    assert stuck(view(head=100)) is None  # the next commit starts at the committed offset
    assert stuck(view(head=101)) is None  # one record later: Faust commits past it, as Kafka
    assert stuck(view(head=102)) == "head"  # Faust's _new_offset gives nothing, for good
    assert stuck(view(read=99, idle=True)) is None  # everything handed over is committed
    assert stuck(view(read=100, idle=True)) == "idle"  # handed over, nothing in flight, no commit
    assert stuck(view(read=100, idle=True, highwater=101)) is None  # a transaction marker, maybe
    assert stuck(view(read=120, idle=False)) is None  # in a batch still
    assert stuck(view(head=150, highwater=100)) is None  # nothing after the committed offset
    assert stuck(view(committed=None, head=150)) is None  # never committed: Faust's own start
    # nothing handed over since a seek, yet fetched past the committed offset: a dropped poll
    unread = PartitionView(0, None, None, 5, True, position=5)
    assert stuck(unread) == "unread"
    assert stuck(PartitionView(0, None, None, 5, False, position=5)) is None  # in its feed
    assert stuck(PartitionView(0, None, None, 5, True, position=0)) is None  # not fetched yet
    assert stuck(PartitionView(0, None, None, 5, True)) is None  # no position known


def test_a_partition_is_sought_back_at_the_third_look_at_the_same_offset() -> None:
    guard = StallGuard(strikes=3)
    bad = view(head=150)
    assert guard.look(1, [("t:0", bad)]) == []
    assert guard.look(1, [("t:0", bad)]) == []
    assert guard.look(1, [("t:0", bad)]) == [("t:0", 100, "head")]
    assert guard.look(1, [("t:0", bad)]) == []  # counting starts again after the seek


def test_a_rebalance_or_a_moving_commit_starts_the_count_again() -> None:
    guard = StallGuard(strikes=2)
    assert guard.look(1, [("t:0", view(head=150))]) == []
    assert guard.look(2, [("t:0", view(head=150))]) == []  # a new generation
    assert guard.look(2, [("t:0", view(committed=101, head=150))]) == []  # the commit moved
    assert guard.look(2, [("t:1", view(head=150))]) == []  # t:0 fine now: forgotten
    assert guard.look(2, [("t:0", view(committed=101, head=150))]) == []


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=30))
def test_a_commit_that_moves_at_every_look_is_never_sought_back(steps: list[Any]) -> None:
    guard = StallGuard(strikes=2)
    committed = 0
    for generation, advance in steps:
        committed += advance + 1
        assert guard.look(generation, [("t:0", view(committed=committed, head=committed + 9,
                                                    highwater=committed + 50))]) == []  # fmt: skip


class _Consumer:
    """Faust's consumer bookkeeping of one partition whose head was never acknowledged."""

    flow_active = True

    def __init__(self) -> None:
        self._committed_offset = {IN0: 100, IN1: 40}  # IN2 never committed
        self._read_offset = {IN0: 1299, IN1: 39, IN2: 1}
        self._acked: dict[_TP, list[int]] = {IN0: list(range(1200, 1300)), IN1: [], IN2: []}
        self._gap: defaultdict[_TP, IntervalTree] = defaultdict(IntervalTree)
        self.sought: list[tuple[_TP, int]] = []

    def assignment(self) -> set[Any]:
        return {IN0, IN1, IN2, _TP("other", 0)}

    def _get_active_partitions(self) -> set[Any]:
        return self.assignment()

    def highwater(self, tp: _TP) -> int:
        return 1300

    async def seek(self, tp: _TP, offset: int) -> None:
        self.sought.append((tp, offset))
        self._read_offset[tp] = offset


class _TP(NamedTuple):
    topic: str
    partition: int


IN0, IN1, IN2 = _TP("in", 0), _TP("in", 1), _TP("in", 2)


class _App:
    rebalancing = False
    consumer_generation_id = 4

    def __init__(self) -> None:
        self.consumer = _Consumer()


def test_the_stuck_partition_is_sought_back_to_its_committed_offset_and_counted() -> None:
    app, guard = _App(), StallGuard(strikes=2)
    stalls: list[tuple[str, str]] = []

    def look() -> None:
        asyncio.run(look_and_seek(app, guard, ["in"], lambda topic: True,
                                  lambda topic, reason: stalls.append((topic, reason))))  # fmt: skip

    look()
    assert app.consumer.sought == []
    look()
    # in:1 is caught up; in:2 handed records over and never committed; "other" is not read
    assert sorted(app.consumer.sought) == [(IN0, 100), (IN2, 0)]
    assert sorted(stalls) == [("in", "head"), ("in", "idle")]
    app.rebalancing = True
    look()
    look()
    assert len(app.consumer.sought) == 2  # a rebalance seeks every partition anyway


def test_partitions_never_committed_are_the_stream_ones_without_an_offset() -> None:
    class TP(NamedTuple):
        topic: str
        partition: int

    committed = {TP("links", 1): None, TP("links", 0): 6, TP("links", 2): 0,
                 TP("opps-changelog", 1): None, TP("ticks", 3): -1}  # fmt: skip
    assert never_committed(committed, {"opps-changelog"}) == [
        TP("links", 1), TP("links", 2), TP("ticks", 3)
    ]  # fmt: skip
