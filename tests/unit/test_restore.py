"""Changelog restore writes each fetch in one step, with the offset it reached; a restart from
that offset ends with every key at the changelog's last value (tests/integration/test_restore.py
does the same with a real broker and kill -9)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, NamedTuple, cast

import faust
import orjson
from faust.stores.rocksdb import Store as RocksStore
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import ConsumerRebalanceListener
from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.runtime.recovery import SeekFirstRecovery
from workers.runtime.restore import RestoreRate, write_fetch

CHANGELOG = "t-restore-state-changelog"


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None


def app_with_table(tmp: Path, store: str) -> tuple[faust.App, Any]:
    app = faust.App(
        "t-restore",
        broker="kafka://127.0.0.1:1",
        datadir=str(tmp),
        store=store,
        TableManager="workers.runtime.recovery:SeekFirstTableManager",
    )
    schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
    table = app.Table("state", default=None, partitions=2, schema=schema)
    return app, table


def changelog(ops: list[tuple[str, int | None]]) -> list[Record]:
    return [
        Record(i, orjson.dumps(k), None if v is None else orjson.dumps({"v": v}))
        for i, (k, v) in enumerate(ops)
    ]


def last_values(ops: list[tuple[str, int | None]]) -> dict[str, Any]:
    expected: dict[str, Any] = {}
    for key, value in ops:
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = {"v": value}
    return expected


def recovery_of(app: faust.App) -> SeekFirstRecovery:
    recovery = cast(Any, app.tables).recovery
    assert isinstance(recovery, SeekFirstRecovery)
    return recovery


class Positions:
    """What Faust's recovery asks of the consumer to place changelog partitions."""

    def __init__(self, earliest: int = 0) -> None:
        self.earliest = earliest
        self.sought: dict[TP, int] = {}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest for tp in tps}

    async def seek_wait(self, offsets: dict[TP, int]) -> None:
        self.sought.update(offsets)


def seek(recovery: SeekFirstRecovery, role: str, *tps: TP, build: bool = False) -> Positions:
    """Faust's seek of `role`'s changelog partitions (`tps`) to the offsets it has applied;
    `build`: their offsets built first, as a recovery does (from the earliest, 0 here)."""
    positions = Positions()
    offsets = recovery.active_offsets if role == "active" else recovery.standby_offsets
    if build:
        asyncio.run(recovery._build_offsets(cast(Any, positions), set(tps), offsets, role))
    asyncio.run(recovery._seek_offsets(positions, set(tps), offsets, role))
    return positions


def recovering(app: faust.App, table: Any, tp: TP, persisted: int | None) -> SeekFirstRecovery:
    recovery = recovery_of(app)
    recovery.add_active(table, tp)
    recovery.active_offsets[tp] = -1 if persisted is None else persisted
    recovery._set_recovery_started()
    seek(recovery, "active", tp)
    return recovery


ops_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.none() | st.integers(0, 9)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, cuts=st.lists(st.integers(1, 7), min_size=1), data=st.data())
def test_a_restart_anywhere_ends_at_the_last_value_of_every_key(
    tmp_path_factory: Any, ops: list[tuple[str, int | None]], cuts: list[int], data: Any
) -> None:
    """Fetches of any size, a kill after any of them, a restart that seeks to the persisted
    offset (Faust re-reads that record): no lost key, no stale value, no deleted key back."""
    records = changelog(ops)
    tp = TP(CHANGELOG, 0)
    app, table = app_with_table(tmp_path_factory.mktemp("m"), "memory://")
    recovery = recovering(app, table, tp, None)
    recovery.active_highwaters[tp] = len(records) - 1
    killed_at = data.draw(st.integers(0, len(records)))
    position, i = 0, 0
    while position < killed_at:  # the first life: fetches until the kill
        size = cuts[i % len(cuts)]
        i += 1
        assert recovery.apply_fetched(tp, records[position : min(position + size, killed_at)])
        position = min(position + size, killed_at)
    persisted = recovery.active_offsets[tp]
    position = max(persisted, 0)  # the restart seeks to the persisted offset itself
    while position < len(records):
        fetch = records[position : position + cuts[i % len(cuts)] + 1]
        i += 1
        assert recovery.apply_fetched(tp, fetch)
        position += len(fetch)
    assert dict(table.data.data) == last_values(ops)
    assert not recovery.in_recovery
    assert recovery.signal_recovery_end.is_set()


def test_a_recovery_waits_for_its_own_actives_not_for_the_end_of_the_one_before(
    tmp_path: Path,
) -> None:
    """The end of a recovery stays signalled until Faust's idle changelog loop next wakes (up
    to 5 s): the next recovery, after a rebalance within them, must not take it for its own."""
    app, table = app_with_table(tmp_path, "memory://")
    first, then = TP(CHANGELOG, 0), TP(CHANGELOG, 1)
    recovery = recovering(app, table, first, None)
    recovery.active_highwaters[first] = 0
    recovery.apply_fetched(first, changelog([("a", 1)]))
    assert recovery.signal_recovery_end.is_set()  # the first recovery ends
    recovery.add_active(table, then)  # a rebalance gives this worker another partition
    recovery.active_offsets[then] = -1
    recovery.active_highwaters[then] = 1
    recovery._set_recovery_started()
    assert recovery.need_recovery()
    assert not recovery.signal_recovery_end.is_set()  # it waits for its own restore
    recovery.apply_fetched(then, changelog([("b", 1)]))
    assert not recovery.signal_recovery_end.is_set()
    recovery.apply_fetched(then, changelog([("b", 1), ("c", 2)])[1:])
    assert recovery.signal_recovery_end.is_set()
    assert dict(table.data.data) == {"a": {"v": 1}, "b": {"v": 1}, "c": {"v": 2}}


def test_an_active_partitions_records_after_its_recovery_are_not_written(tmp_path: Path) -> None:
    """Once restored, an active partition's store is the engine's: its changelog after that
    holds the engine's own writes, and a late fetch of them must not put an older value back
    over a newer one the engine wrote since."""
    app, table = app_with_table(tmp_path, "memory://")
    tp = TP(CHANGELOG, 0)
    recovery = recovering(app, table, tp, None)
    recovery.active_highwaters[tp] = 0
    recovery.apply_fetched(tp, changelog([("a", 1)]))
    assert not recovery.in_recovery
    table.data.data["a"] = {"v": 3}  # the engine's write since (its changelog: a=2, then a=3)
    assert recovery.apply_fetched(tp, changelog([("a", 1), ("a", 2)])[1:])  # a late fetch
    assert dict(table.data.data) == {"a": {"v": 3}}


def test_a_fetch_taken_before_the_seek_of_its_role_is_not_written(tmp_path: Path) -> None:
    """The roles are handed out again and this worker's standby becomes active. A fetch the
    standby took before Faust builds and seeks the active offsets must not be written: with
    no offset of the memory store's own, it set the partition's offset to its end, Faust then
    sought there, and the records before it were never restored (Faust's memory store deletes
    a standby's keys each time a recovery completes)."""
    app, table = app_with_table(tmp_path, "memory://")
    tp = TP(CHANGELOG, 0)
    records = changelog([("a", 1), ("b", 2), ("c", 3), ("a", 4), ("d", 5), ("b", 6), ("e", 7)])
    recovery = recovery_of(app)
    recovery.add_standby(table, tp)
    seek(recovery, "standby", tp, build=True)
    assert recovery.apply_fetched(tp, records[:3])
    asyncio.run(table.data.on_recovery_completed(set(), {tp}))  # Faust: standby keys deleted
    assert recovery.apply_fetched(tp, records[3:5])  # the standby reads on
    asyncio.run(recovery.on_rebalance(set(), set(), set(), 0))  # the roles handed out again
    recovery.add_active(table, tp)  # active here now
    recovery._set_recovery_started()
    assert recovery.apply_fetched(tp, records[5:])  # fetched as a standby, handed over now
    assert recovery.active_offsets[tp] is None  # not written: the seek reads it again
    start = seek(recovery, "active", tp, build=True).sought[tp]
    recovery.active_highwaters[tp] = len(records) - 1
    assert recovery.apply_fetched(tp, records[start:])
    assert dict(table.data.data) == last_values([("a", 4), ("b", 6), ("c", 3), ("d", 5),
                                                 ("e", 7)])  # fmt: skip
    assert not recovery.in_recovery


def test_a_seek_for_roles_since_replaced_leaves_the_new_roles_unsought(tmp_path: Path) -> None:
    """A seek still running when the roles change was for the old ones."""
    app, table = app_with_table(tmp_path, "memory://")
    tp = TP(CHANGELOG, 0)
    recovery = recovery_of(app)

    async def seek_across_a_rebalance() -> None:
        class Slow(Positions):
            async def seek_wait(self, offsets: dict[TP, int]) -> None:
                await recovery.on_rebalance(set(), set(), set(), 0)  # meanwhile

        await recovery._seek_offsets(Slow(), {tp}, recovery.active_offsets, "active")

    recovery.add_active(table, tp)
    recovery.active_offsets[tp] = -1
    asyncio.run(seek_across_a_rebalance())
    recovery.add_active(table, tp)
    recovery._set_recovery_started()
    assert recovery.apply_fetched(tp, changelog([("a", 1)]))
    assert dict(table.data.data) == {}


class Flow:
    """The consumer as a recovery's end sees it; `seeking` runs while the seek waits."""

    def __init__(self, seeking: Any = None) -> None:
        self.seeking = seeking
        self.flowing = False

    def assignment(self) -> set[TP]:
        return {TP("crm.contacts", 0)}

    async def perform_seek(self) -> None:
        if self.seeking is not None:
            self.seeking()

    def resume_partitions(self, tps: set[TP]) -> None:
        pass

    def resume_flow(self) -> None:
        self.flowing = True


def flows_after_recovery(tmp_path: Path, seeking: Any = None) -> bool:
    app, _ = app_with_table(tmp_path, "memory://")
    recovery = recovery_of(app)
    flow = Flow(seeking and (lambda: seeking(app)))

    class Fetcher:
        async def maybe_start(self) -> None:
            pass

    async def end() -> None:
        cast(Any, recovery)._stopped.clear()
        app.consumer = cast(Any, flow)
        cast(Any, app)._fetcher = Fetcher()
        await recovery.on_rebalance(set(), set(), set(), 0)  # the roles: this recovery's
        recovery.signal_recovery_start.clear()  # as Faust's recovery loop takes it
        recovery._set_recovery_started()
        await recovery.on_recovery_completed(app.consumer_generation_id)

    recovery.loop.run_until_complete(end())  # mode's waits run on the service's own loop
    return flow.flowing


def test_a_recovery_ending_as_the_next_rebalance_begins_leaves_the_flow_stopped(
    tmp_path: Path,
) -> None:
    """The seek to the committed offsets waits for the next rebalance's join (seconds, until
    the group is complete) once its revocation has stopped the flow; resumed then, the flow
    delivered fetches under roles about to change. That rebalance's recovery resumes it."""
    assert flows_after_recovery(tmp_path / "a")

    def revoked(app: faust.App) -> None:
        app.rebalancing_count += 1  # what Faust's rebalance listener does as it revokes

    assert not flows_after_recovery(tmp_path / "b", revoked)


def test_faust_starts_a_recovery_before_it_waits_for_its_end() -> None:
    """A canary for `SeekFirstRecovery._set_recovery_started`: Faust marks a recovery started
    right before it waits for the actives, and clears the end only in its changelog loop."""
    restart = inspect.getsource(Recovery._restart_recovery.fun)  # a mode ServiceTask
    started = restart.index("self._set_recovery_started()", restart.index("need_recovery()"))
    assert started < restart.index("signal_recovery_end.wait()")
    assert "signal_recovery_end.clear()" not in restart
    assert "signal_recovery_end.clear()" in inspect.getsource(Recovery._slurp_changelogs.fun)


def test_rocksdict_keeps_the_offset_in_the_same_write(tmp_path: Path) -> None:
    ops: list[tuple[str, int | None]] = [("a", 1), ("b", 2), ("a", None), ("c", 3), ("b", 4)]
    records = changelog(ops)
    _, table = app_with_table(tmp_path, "rocksdb://")
    store = table.data
    assert isinstance(store, RocksStore)
    assert store.use_rocksdict
    write_fetch(table, 1, records[:3])
    assert store.persisted_offset(TP(CHANGELOG, 1)) == 2
    write_fetch(table, 1, records[3:])
    assert store.persisted_offset(TP(CHANGELOG, 1)) == 4
    db = store._db_for_partition(1)
    stored = {orjson.loads(k): orjson.loads(v) for k, v in store._visible_items(db)}
    assert stored == last_values(ops)
    assert store.persisted_offset(TP(CHANGELOG, 0)) is None  # the other partition untouched


def test_standby_records_take_the_same_path_and_report_ready(tmp_path: Path) -> None:
    app, table = app_with_table(tmp_path, "memory://")
    tp = TP(CHANGELOG, 1)
    recovery = recovery_of(app)
    recovery.add_standby(table, tp)
    recovery.standby_offsets[tp] = -1
    recovery.standby_highwaters[tp] = 1
    seek(recovery, "standby", tp)
    cast(Any, app.tables)._standbys_ready = False
    records = changelog([("x", 1), ("y", 2)])
    tables: Any = app.tables  # mypy narrows the property to False after the first assert
    recovery.apply_fetched(tp, records[:1])
    assert not tables.standbys_ready
    assert [r.records for r in recovery.remaining()] == [1]
    recovery.apply_fetched(tp, records[1:])
    assert tables.standbys_ready
    assert dict(table.data.data) == {"x": {"v": 1}, "y": {"v": 2}}
    assert recovery.restored_total == 2


def test_records_of_a_partition_no_longer_here_are_skipped(tmp_path: Path) -> None:
    app, table = app_with_table(tmp_path, "memory://")
    recovery = recovering(app, table, TP(CHANGELOG, 0), None)
    assert recovery.apply_fetched(TP(CHANGELOG, 1), changelog([("x", 1)]))
    assert dict(table.data.data) == {}


def test_remaining_and_eta_while_restoring(tmp_path: Path) -> None:
    app, table = app_with_table(tmp_path, "memory://")
    tp = TP(CHANGELOG, 0)
    recovery = recovering(app, table, tp, None)
    recovery.active_highwaters[tp] = 99
    clock = iter([0.0, 1.0]).__next__
    recovery.rate = RestoreRate(clock=clock)
    recovery.apply_fetched(tp, changelog([("k", i) for i in range(10)]))
    recovery.apply_fetched(tp, changelog([("k", i) for i in range(20)])[10:])
    [row] = recovery.remaining()
    assert (row.table, row.partition, row.role, row.records) == ("state", 0, "active", 80)
    assert recovery.rate.per_second() == 10.0
    assert recovery.eta_seconds() == 8.0


def test_restore_rate_forgets_old_marks() -> None:
    now = [0.0]
    rate = RestoreRate(window=10.0, clock=lambda: now[0])
    assert rate.eta(5) is None
    for t, n in ((0.0, 1000), (1.0, 1000), (20.0, 100), (21.0, 100)):
        now[0] = t
        rate.add(n)
    assert rate.per_second() == 100.0  # the fast start is out of the window
    assert rate.eta(0) == 0.0


def test_faust_recovery_still_works_the_way_the_fast_path_assumes() -> None:
    """A canary: if faust-streaming renames what `apply_fetched` keeps up to date, this fails."""
    slurp = inspect.getsource(Recovery._slurp_changelogs.fun)  # a mode ServiceTask
    for name in ("active_offsets", "standby_offsets", "tp_to_table", "_set_recovery_ended",
                 "signal_recovery_end.set()", "on_standbys_ready", "offset > seen_offset"):  # fmt: skip
        assert name in slurp, name
    assert RocksStore.offset_key == b"__faust\0offset__"
    assert "persisted_offset" in inspect.getsource(Recovery._add)  # where a restart resumes
    # the roles change in `on_rebalance`; each role's partitions are placed by `_seek_offsets`
    restart = " ".join(inspect.getsource(Recovery._restart_recovery.fun).split())
    assert '_seek_offsets)( consumer, assigned_active_tps, active_offsets, "active" )' in restart
    assert '_seek_offsets)( consumer, standby_tps, standby_offsets, "standby" )' in restart
    assert "self.active_tps.clear()" in inspect.getsource(Recovery.on_rebalance)
    # a revocation counts a rebalance as it begins (`on_recovery_completed` compares counts)
    listener = inspect.getsource(ConsumerRebalanceListener.on_partitions_revoked)
    assert "app.on_rebalance_start()" in listener
    assert "self.rebalancing_count += 1" in inspect.getsource(faust.App.on_rebalance_start)
