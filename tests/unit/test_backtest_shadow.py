"""A shadow worker's batches write its tables as they go (`WriteThrough`): what a batch reads
and what the table holds after it are what a worker's transaction and commit give."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace

import msgspec
import pytest

from tests.doubles import RecordingLog
from workers.automation.stage_moves import BuyerAction
from workers.backtest.shadow import ShadowLog, ShadowStore, WriteThrough
from workers.engine.engine import Engine, EngineIO
from workers.engine.errors import UnknownTable
from workers.engine.memory_store import MemoryStore
from workers.engine.records import Record
from workers.engine.transaction import Transaction
from workers.runtime.engine_io import decoded


def _place(topic: str, key: bytes | None) -> int:
    return 0


def _tap(into: list[tuple[str, bytes | None, bytes]]) -> Callable[[str, bytes | None, bytes], None]:
    def output(topic: str, key: bytes | None, value: bytes) -> None:
        into.append((topic, key, value))

    return output


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


def test_a_record_made_goes_to_its_agent_as_it_is_and_its_json_only_where_read() -> None:
    """`emit_made(..., record)`: a worker's transaction sends the record's JSON; a shadow's
    output is the record itself (the same topic, partition, key, id and source, no JSON), which
    its log hands to the agent of the internal topic as made, and encodes, as the worker's
    bytes, only for a topic tapped as an output. `decoded` takes it as it is (no decode), as
    the bytes would decode it. A value of another kind, or none, is decoded from the bytes."""
    action = BuyerAction(
        opportunity_id="o1", contact_id="c1", kind="email_open", at=1.5, event_id="e1"
    )
    body = msgspec.json.encode(action)
    worker, shadow = Transaction({}, _place), WriteThrough({}, _place)
    for tx in (worker, shadow):
        tx.emit_made(0, "actions", b"o1", action, "action:o1:e1")
    (_, sent), (_, carried) = worker.outputs[0], shadow.outputs[0]
    assert type(sent) is Record
    assert sent.value == body
    assert carried.value is None
    assert getattr(carried, "made") is action  # noqa: B009 (a shadow's record, not a Record's field)
    fields = [f for f in Record.__struct_fields__ if f != "value"]
    assert [getattr(carried, f) for f in fields] == [getattr(sent, f) for f in fields]
    tapped: list[tuple[str, bytes | None, bytes]] = []
    log = ShadowLog({"actions"}, {"actions": "dealstream.buyer-actions"}, _tap(tapped))
    asyncio.run(log.send([carried, carried]))
    first, second = log.queues["actions"]
    assert first.decoded is action
    assert (first.offset, second.offset) == (0, 1)
    assert tapped == [("dealstream.buyer-actions", b"o1", body)] * 2

    def arrival(made: object) -> SimpleNamespace:
        return SimpleNamespace(message=SimpleNamespace(value=body, decoded=made))

    events = [arrival(action), arrival(None), arrival({"opportunity_id": "o1"})]
    got = [value for _, value in decoded(events, BuyerAction, "buyer action")]
    assert got[0] is action
    assert got == [action, action, action]  # the others decoded from the same bytes
