"""The feeds that hand whole polls to the engine's agents (workers/runtime/feeds.py)."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from workers.runtime.feeds import (
    Arrival,
    Feed,
    Feeds,
    ack_all,
    drop_stale,
    fetch_position,
    refetch_inactive,
)


def test_a_poll_is_taken_whole_and_in_fetch_order() -> None:
    feed = Feed("t")
    feed.put(1, [1, 2, 3])
    feed.put(1, [4, 5])
    feed.put(1, [6, 7, 8, 9])
    assert feed.take(5, 1, True) == [1, 2, 3, 4, 5]  # the third poll would not fit
    assert feed.take(5, 1, True) == [6, 7, 8, 9]
    assert feed.take(5, 1, True) == []


def test_a_poll_larger_than_the_batch_is_still_taken() -> None:
    feed = Feed("t")
    feed.put(1, list(range(10)))
    assert feed.take(3, 1, True) == list(range(10))


def test_polls_of_an_older_generation_or_stopped_flow_are_dropped_never_handed_over() -> None:
    feed = Feed("t")
    feed.put(1, ["old"])
    feed.put(2, ["new"])
    assert feed.take(10, 2, True) == ["new"]
    feed.put(2, ["while rebalancing"])
    assert feed.take(10, 2, False) == []


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 30)), max_size=30), st.integers(1, 50))
def test_every_record_of_the_current_generation_comes_out_once_in_order(
    polls: list[tuple[int, int]], max_records: int
) -> None:
    feed = Feed("t", limit=40)
    sent: list[tuple[int, int]] = []
    n = 0
    for generation, size in polls:
        records = [(generation, n + i) for i in range(size)]
        n += size
        feed.put(generation, records)
        sent += records
    taken: list[tuple[int, int]] = []
    while batch := feed.take(max_records, 2, True):
        taken += batch
    assert taken == [r for r in sent if r[0] == 2]
    assert not feed.full


def test_the_fetch_loop_waits_for_space_when_the_feed_is_full() -> None:
    async def run() -> None:
        feed = Feed("t", limit=3)
        feed.put(1, [1, 2, 3])
        assert feed.full
        waiting = asyncio.ensure_future(feed.space())
        await asyncio.sleep(0)
        assert not waiting.done()
        feed.take(10, 1, True)
        await asyncio.wait_for(waiting, 1)

    asyncio.run(run())


def test_one_reader_per_topic() -> None:
    feeds = Feeds()
    feeds.register("t")
    with pytest.raises(ValueError, match="already has a feed"):
        feeds.register("t")


class _Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset
        self.key, self.value, self.headers = b"k", b"v", ()
        self.timestamp: int | None = 1_764_500_000_123  # milliseconds, as aiokafka gives it


class _Consumer:
    """The bookkeeping Faust's `Consumer.ack` keeps."""

    def __init__(self, committed: int | None) -> None:
        self._committed_offset: dict[str, int | None] = defaultdict(lambda: committed)
        self._acked_index: dict[str, set[int]] = defaultdict(set)
        self._acked: dict[str, list[int]] = defaultdict(list)
        self._n_acked = 0
        self._waiting_for_ack = None


def test_an_arrival_is_its_own_message() -> None:
    arrival = Arrival("tp", _Record(5), 3)
    assert arrival.message is arrival
    assert (arrival.topic, arrival.partition, arrival.offset, arrival.key) == ("t", 0, 5, b"k")
    assert arrival.generation_id == 3
    assert arrival.timestamp == 1_764_500_000.123  # seconds, as Faust's messages hold it
    assert not arrival.acked


def test_ack_all_keeps_fausts_bookkeeping_once_per_offset() -> None:
    consumer = _Consumer(committed=3)
    arrivals = [Arrival("tp", _Record(o), 1) for o in range(6)]
    ack_all(consumer, arrivals)
    ack_all(consumer, arrivals)  # acknowledged twice: counted once
    again = Arrival("tp", _Record(4), 1)  # the same offset fetched again
    ack_all(consumer, [again])
    assert consumer._acked["tp"] == [3, 4, 5]  # below the committed offset: nothing to do
    assert consumer._n_acked == 3
    assert all(a.acked for a in [*arrivals, again])


def test_batches_wait_for_a_poll_and_skip_empty_takes() -> None:
    class FlowControl:
        def is_active(self) -> bool:
            return True

    class App:
        consumer = object()
        consumer_generation_id = 2
        flow_control = FlowControl()

    async def run() -> list[list[Any]]:
        feeds = Feeds()
        feed = feeds.register("t")
        feed.put(1, ["stale"])
        batches = feeds.batches(App(), feed, 10)
        later = asyncio.ensure_future(batches.__anext__())
        await asyncio.sleep(0.01)
        assert not later.done()  # the stale poll gave nothing: still waiting
        feed.put(2, ["a", "b"])
        batch = await asyncio.wait_for(later, 1)
        return [list(batch)]

    assert asyncio.run(run()) == [["a", "b"]]


# `message.<x>` that are not Faust's: the router's own messages (kind, body)
NOT_FAUST = {"kind", "body"}


def test_an_arrival_has_every_message_attribute_the_runtime_reads() -> None:
    """The engine's agents get arrivals where Faust's agents got events: every `.message.<x>`
    (and `message.<x>`) the runtime reads must be there."""
    runtime = Path(__file__).resolve().parents[2] / "workers" / "runtime"
    read = set()
    for source in runtime.glob("*.py"):
        text = source.read_text()
        if "engines.agent(" in text or source.name == "engine_io.py":
            read |= set(re.findall(r"\bevent\.message\.([a-z_]+)", text))
            read |= set(re.findall(r"\bmessage\.([a-z_]+)", text)) - NOT_FAUST
    arrival = Arrival("tp", _Record(1), 1)
    missing = sorted(name for name in read if not hasattr(arrival, name))
    assert not missing, f"Arrival lacks {missing}"


def test_records_of_a_partition_resumed_mid_fetch_are_fetched_again() -> None:
    """Found by test_automation (a demo request produced just before a kill -9 was never
    processed by the next worker): the fetch returned records of a partition still paused when
    the poll began; they were left out and the fetch position had passed them. The partition
    is sought back to its first such record; an active or unassigned one is left alone."""

    class Consumer:
        _buffered_partitions: set[str] = set()

        def __init__(self) -> None:
            self.sought: list[tuple[str, int]] = []

        def assignment(self) -> set[str]:
            return {"in:0", "in:1"}

        async def seek(self, tp: str, offset: int) -> None:
            self.sought.append((tp, offset))

    consumer = Consumer()
    records = {"in:0": [_Record(5), _Record(6)], "in:1": [_Record(3)], "gone:0": [_Record(1)]}
    asyncio.run(refetch_inactive(consumer, records, active={"in:1"}))
    assert consumer.sought == [("in:0", 5)]
    asyncio.run(refetch_inactive(consumer, records, active=None))  # no pause in force
    assert consumer.sought == [("in:0", 5)]


class _Positions:
    """A consumer double with aiokafka's fetch positions behind Faust's consumer thread."""

    _buffered_partitions: set[str] = set()

    def __init__(self, positions: dict[str, int]) -> None:
        self.sought: list[tuple[str, int]] = []
        states = {tp: SimpleNamespace(_position=at) for tp, at in positions.items()}
        assignment = SimpleNamespace(state_value=states.__getitem__)
        subscriptions = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))
        client = SimpleNamespace(_subscriptions=subscriptions)
        self._thread = SimpleNamespace(_ensure_consumer=lambda: client)

    def assignment(self) -> set[str]:
        return {"in:0", "in:1"}

    async def seek(self, tp: str, offset: int) -> None:
        self.sought.append((tp, offset))


def test_records_fetched_before_a_seek_back_over_them_are_dropped_and_not_sought_to() -> None:
    """A fresh-clone CI run: one partition's commit stuck 75 records behind for good after three
    SIGKILLs. A rebalance's seek to the committed offset (the consumer's thread) landed between
    a fetch and the loop handling it: handing those records over marks the records before them
    as a gap, and seeking back to them skips those records. The position says which happened:
    past the records, nobody sought; at or before their last one, a seek did, and the records
    come again from there."""
    consumer = _Positions({"in:0": 1165, "in:1": 8})  # in:0 sought back to 1165 after the fetch
    records = {"in:0": [_Record(1200), _Record(1201)], "in:1": [_Record(6), _Record(7)]}
    assert drop_stale(consumer, records) == {"in:1": records["in:1"]}
    asyncio.run(refetch_inactive(consumer, records, active=set()))  # both paused meanwhile
    assert consumer.sought == [("in:1", 6)]  # in:0's position already fetches them again


def test_without_a_known_position_nothing_is_dropped() -> None:
    records = {"in:0": [_Record(3)]}
    assert drop_stale(object(), records) == records


def test_the_fetch_position_is_read_from_aiokafkas_own_subscription_state() -> None:
    """`fetch_position` reads aiokafka's private state (through Faust's consumer thread): this
    fails if either moves, instead of the stale-fetch check silently doing nothing."""
    from aiokafka.consumer.subscription_state import SubscriptionState
    from faust.types import TP

    async def positions() -> tuple[int | None, int | None, int | None]:
        state = SubscriptionState()
        state.assign_from_user([TopicPartition("in", 0)])
        state.seek(TopicPartition("in", 0), 1165)
        consumer = SimpleNamespace(_thread=SimpleNamespace(
            _ensure_consumer=lambda: SimpleNamespace(_subscriptions=state)))  # fmt: skip
        gone = fetch_position(consumer, TP("in", 1))
        return fetch_position(consumer, TP("in", 0)), gone, fetch_position(object(), TP("in", 0))

    assert asyncio.run(positions()) == (1165, None, None)
