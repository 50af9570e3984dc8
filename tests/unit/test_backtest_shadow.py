"""A shadow worker's batches write its tables as they go (`WriteThrough`): what a batch reads
and what the table holds after it are what a worker's transaction and commit give."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import msgspec
import pytest

from tests.doubles import RecordingLog
from workers.automation.stage_moves import BuyerAction
from workers.backtest.shadow import ShadowStore, WriteThrough
from workers.engine.engine import Engine, EngineIO
from workers.engine.errors import UnknownTable
from workers.engine.memory_store import MemoryStore
from workers.engine.records import Record
from workers.engine.transaction import Transaction
from workers.runtime.engine_io import decoded


def _place(topic: str, key: bytes | None) -> int:
    return 0


def test_reads_see_the_batch_writes_and_the_table_holds_them_at_once() -> None:
    store = ShadowStore("t")
    store.data[1] = {"kept": {"n": 1}, "gone": 2}
    tx = WriteThrough({"t": store}, _place)
    value = object()
    tx.put("t", 1, "new", value)
    tx.put("t", 1, "gone", None)
    tx.put("t", 3, "other", 5)
    assert tx.get("t", 1, "new") is value  # as put: no JSON round trip
    assert tx.get("t", 1, "gone") is None
    assert tx.get("t", 2, "absent") is None
    assert store.data == {1: {"kept": {"n": 1}, "new": value}, 3: {"other": 5}}
    assert tx.writes == {}  # nothing left for the commit to apply
    assert tx.partitions == {1, 3}


def test_an_unknown_table_is_named_on_read_and_write() -> None:
    tx = WriteThrough({"t": ShadowStore("t")}, _place)
    with pytest.raises(UnknownTable):
        tx.get("u", 0, "k")
    with pytest.raises(UnknownTable):
        tx.put("u", 0, "k", 1)


def test_only_a_shadow_store_is_written_through() -> None:
    with pytest.raises(TypeError, match="ShadowStore"):
        WriteThrough({"t": MemoryStore("t")}, _place)


@pytest.mark.parametrize("through", [False, True])
def test_an_engine_batch_leaves_the_same_table_and_outputs(through: bool) -> None:
    """The same batch on a worker's transaction and on a shadow's: the same rows after the
    commit, the same outputs."""
    store = ShadowStore("t")
    log = RecordingLog()
    io = EngineIO({"t": store}, log, log, _place, lambda partition: True, changelog=False)
    if through:
        io.transaction = WriteThrough
    engine = Engine("e", io, "t", ["out"])

    def work(tx: Transaction) -> None:
        for i in range(3):
            count = tx.get("t", 0, "count") or 0
            tx.put("t", 0, "count", count + 1)
            tx.emit(0, "out", b"k", str(count).encode(), f"o:{i}")
        tx.put("t", 0, "count-before", None)

    store.data[0] = {"count-before": 7}
    asyncio.run(engine.run({0}, work))
    assert store.data == {0: {"count": 3}}
    assert [r.value for r in log.records] == [b"0", b"1", b"2"]


def test_a_record_made_rides_with_its_bytes_and_the_agent_takes_it_as_it_is() -> None:
    """`emit(..., made=record)`: a worker's transaction sends the bytes alone; a shadow's
    output carries the record too, and `decoded` hands it to the agent of the internal topic
    as it is (no decode), as the bytes would decode it. A value of another kind, or none, is
    decoded from the bytes."""
    action = BuyerAction(
        opportunity_id="o1", contact_id="c1", kind="email_open", at=1.5, event_id="e1"
    )
    body = msgspec.json.encode(action)
    worker, shadow = Transaction({}, _place), WriteThrough({}, _place)
    for tx in (worker, shadow):
        tx.emit(0, "actions", b"o1", body, "action:o1:e1", made=action)
    (_, sent), (_, carried) = worker.outputs[0], shadow.outputs[0]
    assert type(sent) is Record  # a worker's: the bytes alone
    fields = Record.__struct_fields__
    assert [getattr(carried, f) for f in fields] == [getattr(sent, f) for f in fields]
    assert carried.made is action  # type: ignore[attr-defined]

    def arrival(made: object) -> SimpleNamespace:
        return SimpleNamespace(message=SimpleNamespace(value=body, decoded=made))

    events = [arrival(action), arrival(None), arrival({"opportunity_id": "o1"})]
    got = [value for _, value in decoded(events, BuyerAction, "buyer action")]
    assert got[0] is action
    assert got == [action, action, action]  # the others decoded from the same bytes
