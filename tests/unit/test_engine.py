"""The state engine in process: dict stores, a recording broker, crashes between any two steps."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.doubles import Crash, DictStore, RecordingLog
from workers.engine.engine import Engine, EngineIO, settle
from workers.engine.errors import PartitionMoved, UnknownTable
from workers.engine.transaction import Transaction

PARTITIONS = 2
OUT = "totals"

Event = tuple[int, int, str, int]  # partition, offset, key, amount


def make_engine(
    log: RecordingLog, stores: dict[str, DictStore], owns: Any = None, epoch: Any = None
) -> Engine:
    async def no_sleep(_: float) -> None:
        return None

    io = EngineIO(
        stores=stores,
        sender=log,
        output_log=log,
        place=lambda topic, key: hash(key) % PARTITIONS,
        owns=owns or (lambda partition: True),
        clock=lambda: 1_000.0,
        sleep=no_sleep,
        epoch=epoch or (lambda: 0),
    )
    return Engine("totals", io, "outbox", [OUT])


def new_stores() -> dict[str, DictStore]:
    return {"totals": DictStore("totals"), "outbox": DictStore("outbox")}


def running_total(events: list[Event]) -> Any:
    """The feature: a running total per key, one output per event, idempotent on replay (the
    state holds the last offset applied)."""

    def work(tx: Transaction) -> None:
        for partition, offset, key, amount in events:
            state = tx.get("totals", partition, key) or {"total": 0, "n": 0, "offset": -1}
            if offset <= state["offset"]:
                continue  # applied before a crash: the state already has it
            n = state["n"] + 1
            state = {"total": state["total"] + amount, "n": n, "offset": offset}
            tx.put("totals", partition, key, state)
            body = orjson.dumps({"key": key, "total": state["total"], "n": n})
            tx.emit(partition, OUT, key.encode(), body, f"{key}:{n}", partition)
            tx.applied("in", partition, offset)

    return work


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_batch_writes_each_key_once_and_sends_each_output_once() -> None:
    log, stores = RecordingLog(), new_stores()
    engine = make_engine(log, stores)
    events = [(0, 0, "a", 1), (0, 1, "a", 2), (1, 0, "b", 5)]
    stats = run(engine.run({0, 1}, running_total(events)))
    assert stats.outputs == 3
    assert stats.writes == 2  # "a" twice in the batch: one record
    assert stores["totals"].get(0, "a") == {"total": 3, "n": 2, "offset": 1}
    assert [orjson.loads(r.value or b"")["total"] for r in log.records_of(OUT)] == [1, 3, 5]
    checkpoint = stores["outbox"].get(0, "totals:0")
    assert checkpoint["outputs"] == {f"{OUT}:0": 1, f"{OUT}:1": 0}


def test_without_a_changelog_a_batch_sends_its_outputs_and_writes_its_stores_only() -> None:
    """A backtest's engines: the same state and outputs, no changelog or checkpoint records,
    and inputs a batch applied are still skipped when they come again."""
    log, stores = RecordingLog(), new_stores()
    engine = make_engine(log, stores)
    engine.io.changelog = False
    events = [(0, 0, "a", 1), (0, 1, "a", 2), (1, 0, "b", 5)]
    stats = run(engine.run({0, 1}, running_total(events)))
    assert (stats.outputs, stats.writes) == (3, 0)
    assert stores["totals"].get(0, "a") == {"total": 3, "n": 2, "offset": 1}
    assert [r.topic for r in log.records] == [OUT] * 3
    assert stores["outbox"].get(0, "totals:0") is None
    poll = [_In(0, 1, "a"), _In(0, 2, "b"), _In(0, 3, "c")]  # "in:0" applied up to 1
    stats, skipped = run(engine.run_inputs(poll, forward))
    assert (stats.outputs, skipped) == (2, poll[:1])
    assert run(engine.run_inputs(poll[1:], forward)) == (None, poll[1:])


def test_unknown_table_is_named() -> None:
    engine = make_engine(RecordingLog(), new_stores())

    def work(tx: Transaction) -> None:
        tx.put("contacts", 0, "a", 1)

    with pytest.raises(UnknownTable, match=r"'contacts'.*'outbox', 'totals'"):
        run(engine.run({0}, work))


class _In:
    def __init__(self, partition: int, offset: int, key: str) -> None:
        self.topic, self.partition, self.offset, self.key = "in", partition, offset, key


def forward(events: list[_In]) -> Any:
    """A stateless feature (a forward to an internal topic): nothing in its state says an
    input was handled, so only the engine's checkpoint can."""

    def work(tx: Transaction) -> None:
        for e in events:
            tx.emit(e.partition, OUT, e.key.encode(), b"{}", f"fwd:{e.offset}", e.partition)

    return work


def test_inputs_a_committed_batch_applied_are_skipped_when_they_come_again() -> None:
    """Faust commits offsets after the batch: a crash or a rebalance in between fetches the
    batch again. The checkpoint holds the last offset applied per input partition, so those
    inputs re-derive nothing, even in a worker with a fresh memory (the checkpoint is read
    back from the store), while new ones in the same poll are applied."""
    log, stores = RecordingLog(), new_stores()
    first = make_engine(log, stores)
    stats, skipped = run(first.run_inputs([_In(0, 0, "a"), _In(0, 1, "b")], forward))
    assert (stats.outputs, skipped) == (2, [])
    again = make_engine(log, stores)  # a new worker: the same store
    poll = [_In(0, 0, "a"), _In(0, 1, "b"), _In(0, 2, "c")]
    stats, skipped = run(again.run_inputs(poll, forward))
    assert [e.offset for e in skipped] == [0, 1]
    assert [r.output_id for r in log.records_of(OUT)] == ["fwd:0", "fwd:1", "fwd:2"]
    assert run(again.run_inputs(poll[:2], forward)) == (None, poll[:2])
    checkpoint = stores["outbox"].get(0, "totals:0")
    assert checkpoint["inputs"] == {"in:0": 2}


def test_checkpoints_moved_to_their_own_table_are_found_where_an_older_version_left_them() -> None:
    """The router's checkpoints moved from the shared outbox to a table of its own: the first
    worker of the new version reads the old place once, so inputs a committed batch applied
    are still skipped; from then on the new table holds them, and the old one is not written."""
    log, stores = RecordingLog(), new_stores()
    old = make_engine(log, stores)
    run(old.run_inputs([_In(0, 0, "a"), _In(0, 1, "b")], forward))
    stores["outbox-totals"] = DictStore("outbox-totals")
    new = make_engine(log, stores)
    new.checkpoints, new.legacy_checkpoints = "outbox-totals", "outbox"
    poll = [_In(0, 0, "a"), _In(0, 1, "b"), _In(0, 2, "c")]
    _, skipped = run(new.run_inputs(poll, forward))
    assert [e.offset for e in skipped] == [0, 1]
    assert [r.output_id for r in log.records_of(OUT)] == ["fwd:0", "fwd:1", "fwd:2"]
    assert stores["outbox-totals"].get(0, "totals:0")["inputs"] == {"in:0": 2}
    assert stores["outbox"].get(0, "totals:0")["inputs"] == {"in:0": 1}  # left as it was


def test_a_failed_send_is_retried_without_duplicates() -> None:
    log, stores = RecordingLog(fail_next=2), new_stores()
    engine = make_engine(log, stores)
    run(engine.run({0}, running_total([(0, 0, "a", 1)])))
    assert [r.output_id for r in log.records_of(OUT)] == ["a:1"]


def test_a_partition_that_moves_mid_batch_commits_nothing() -> None:
    log, stores = RecordingLog(fail_next=1), new_stores()
    owned = {0: True}
    engine = make_engine(log, stores, owns=lambda p: owned.get(p, False))
    run(engine.run({0}, running_total([(0, 0, "a", 1)])))  # verified once
    log.fail_next, owned[0] = 1, False
    with pytest.raises(PartitionMoved):
        run(engine.run({0}, running_total([(0, 1, "a", 1)])))
    assert stores["totals"].get(0, "a")["offset"] == 0  # the second input left no trace
    assert 0 not in engine.verified  # read back again when it comes back


def test_a_rebalance_during_the_batch_gives_it_up_before_its_next_step() -> None:
    log, stores = RecordingLog(), new_stores()
    generation = [1]
    engine = make_engine(log, stores, epoch=lambda: generation[0])
    run(engine.run({0}, running_total([(0, 0, "a", 1)])))
    sends = log.sends

    async def rebalance_after_outputs(records: Any) -> Any:
        sent = await RecordingLog.send(log, records)
        generation[0] += 1  # the partitions were revoked and assigned while outputs went out
        return sent

    log.send = rebalance_after_outputs  # type: ignore[method-assign]
    with pytest.raises(PartitionMoved, match="rebalance"):
        run(engine.run({0}, running_total([(0, 1, "a", 2)])))
    assert log.sends == sends + 1  # the outputs only: no state, no checkpoint
    assert stores["totals"].get(0, "a")["offset"] == 0  # nothing applied locally
    assert 0 not in engine.verified  # read back again before its next batch


def test_settling_waits_for_a_running_batch_to_give_itself_up() -> None:
    """Partitions about to be revoked (or the worker stopping): nothing is owned any more, and
    `settle` returns once the batch has given itself up at its next step, after the broker
    confirmed the send it was waiting for: none of its records is in flight any longer."""
    log, stores = RecordingLog(), new_stores()
    owned = {0: True}
    engine = make_engine(log, stores, owns=lambda p: owned.get(p, False))
    run(engine.run({0}, running_total([(0, 0, "a", 1)])))  # verified once
    release = asyncio.Event()

    async def slow(records: Any) -> Any:
        await release.wait()  # the outputs are on their way
        return await RecordingLog.send(log, records)

    async def scenario() -> BaseException | None:
        log.send = slow  # type: ignore[method-assign]
        batch = asyncio.create_task(engine.run({0}, running_total([(0, 1, "a", 2)])))
        await asyncio.sleep(0)  # the batch is sending its outputs
        owned[0] = False  # revoked
        settling = asyncio.create_task(settle([engine]))
        await asyncio.sleep(0.01)
        assert not settling.done()  # the send is not confirmed yet
        release.set()
        await asyncio.wait_for(settling, 5.0)
        return batch.exception()

    assert isinstance(run(scenario()), PartitionMoved)
    assert [r.output_id for r in log.records_of(OUT)] == ["a:1", "a:2"]  # delivered once
    assert stores["totals"].get(0, "a")["offset"] == 0  # then given up: no state


def test_a_partition_revoked_or_assigned_during_its_read_back_is_not_left_verified() -> None:
    """A tick that touches nothing of its partition commits nothing to check: had the
    partition changed hands while its outputs were read back, it stayed verified on what the
    owner before had written, and the next owner's first batch skipped its own read-back."""
    log, stores = RecordingLog(), new_stores()
    engine = make_engine(log, stores)

    async def slow_read_back(starts: Any, topics: Any, source: str) -> Any:
        engine.reset({0})  # the partition is revoked (or assigned) meanwhile
        return await RecordingLog.ids_since(log, starts, topics, source)

    log.ids_since = slow_read_back  # type: ignore[method-assign]
    with pytest.raises(PartitionMoved, match="during its read-back"):
        run(engine.run({0}, lambda tx: None))
    assert 0 not in engine.verified


def replay(events: list[Event], batches: list[int], crash_after: int | None, wiped: bool) -> Any:
    """Process `events` in batches, crash after `crash_after` sends (kill -9), restart a new
    engine from the committed offsets (the local store kept, or wiped and restored from the
    changelog) and finish. Returns the log and the stores."""
    log, stores = RecordingLog(crash_after=crash_after), new_stores()
    committed = 0  # events acknowledged: the next worker starts here
    engine = make_engine(log, stores)
    cuts = _cuts(len(events), batches)
    try:
        for start, end in cuts:
            run(engine.run({e[0] for e in events[start:end]}, running_total(events[start:end])))
            committed = end
    except Crash:
        log.crash_after = None
        if wiped:
            for store in stores.values():
                store.restore(log)
        engine = make_engine(log, stores)  # a new process: nothing in memory
        for start, end in _cuts(len(events) - committed, batches):
            chunk = events[committed + start : committed + end]
            run(engine.run({e[0] for e in chunk}, running_total(chunk)))
    return log, stores


def _cuts(n: int, sizes: list[int]) -> list[tuple[int, int]]:
    cuts, start, i = [], 0, 0
    while start < n:
        end = min(n, start + sizes[i % len(sizes)])
        cuts.append((start, end))
        start, i = end, i + 1
    return cuts


events_strategy = st.lists(
    st.tuples(st.sampled_from("abcde"), st.integers(1, 9)), min_size=1, max_size=40
)


@settings(deadline=None)
@given(
    raw=events_strategy,
    batches=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    crash_after=st.none() | st.integers(0, 40),
    wiped=st.booleans(),
)
def test_no_output_is_lost_or_sent_twice_across_a_crash(
    raw: list[tuple[str, int]], batches: list[int], crash_after: int | None, wiped: bool
) -> None:
    offsets: Counter[int] = Counter()
    events: list[Event] = []
    for key, amount in raw:
        partition = ord(key) % PARTITIONS
        events.append((partition, offsets[partition], key, amount))
        offsets[partition] += 1
    log, stores = replay(events, batches, crash_after, wiped)
    ids = [r.output_id for r in log.records_of(OUT)]
    assert len(ids) == len(set(ids)), "an output was sent twice"
    expected: dict[str, list[int]] = {}
    for _, _, key, amount in events:
        totals = expected.setdefault(key, [])
        totals.append((totals[-1] if totals else 0) + amount)
    got: dict[str, list[int]] = {}
    for r in sorted(log.records_of(OUT), key=lambda r: int((r.output_id or "").split(":")[1])):
        body = orjson.loads(r.value or b"")
        got.setdefault(body["key"], []).append(body["total"])
    assert got == expected, "an output was lost or wrong"
    for key, totals in expected.items():
        assert stores["totals"].get(ord(key) % PARTITIONS, key)["total"] == totals[-1]


def test_a_crash_between_outputs_and_state_sends_nothing_twice() -> None:
    # send 1 = outputs, 2 = state, 3 = checkpoint: crash before the state of the 2nd batch
    events = [(0, 0, "a", 1), (0, 1, "a", 2), (0, 2, "a", 3)]
    log, stores = replay(events, [2, 1], crash_after=4, wiped=False)
    assert [r.output_id for r in log.records_of(OUT)] == ["a:1", "a:2", "a:3"]
    assert stores["totals"].get(0, "a")["total"] == 6


def test_an_after_commit_action_that_fails_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tx = Transaction({}, lambda topic, key: 0)
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("a metric label went wrong")

    tx.after_commit(broken)
    tx.after_commit(lambda: ran.append("index"))
    tx.committed()  # the batch is committed: its inputs must still be acknowledged
    assert ran == ["index"]
    assert "after the commit of a batch" in caplog.text


def test_after_commit_each_runs_once_a_batch_with_its_items_in_order() -> None:
    tx = Transaction({}, lambda topic, key: 0)
    calls: list[list[int]] = []
    ran: list[str] = []
    tx.after_commit_each(calls.append, 1)
    tx.after_commit(lambda: ran.append("between"))
    tx.after_commit_each(calls.append, 2)
    assert calls == []  # nothing before the commit
    tx.committed()
    assert calls == [[1, 2]]
    assert ran == ["between"]
    tx.after_commit_each(calls.append, 3)  # a transaction's next batch starts afresh
    tx.committed()
    assert calls == [[1, 2], [3]]
