"""A worker in process for a backtest: the workers' own wiring (workers/runtime/app.py `wire`)
on an unstarted Faust app, with tables in memory, internal topics as in-memory queues, and a
clock the replay sets. Same handlers, same engine, same outputs as a live worker: only the I/O
is swapped, so a backtest cannot drift from what the workers do.

Nothing here talks to Kafka or Redis: outputs go to `on_output`, internal hops (links, buyer
actions, sales-ready signals, the router's topic) are handed back to their agents, and the
engines make no changelog or checkpoint (the tables are the memory itself, nothing restarts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust
import msgspec

from workers.engine.engine import BatchStats
from workers.engine.errors import UnknownTable
from workers.engine.memory_store import MemoryStore
from workers.engine.records import Record
from workers.engine.transaction import Placement, Sources, Transaction
from workers.interfaces import OutputsSeen, Sent, TableStore
from workers.observability.unobserved import UnobservedMetrics
from workers.rules import Rules
from workers.runtime.app import Wiring, faust_options, wire
from workers.runtime.context import AppContext
from workers.runtime.engines import MAX_BATCH
from workers.runtime.router_inputs import RouterMessage
from workers.settings import Settings

OnOutput = Callable[[str, bytes | None, bytes], None]  # (contract topic, key, value)
OnScore = Callable[[str, Callable[[], bytes]], None]  # (contact, its score's JSON on demand)
_TICK = msgspec.json.encode(RouterMessage(kind="tick"))
PROFILES = 1 << 18  # contacts whose profile lines a shadow remembers (its tables hold them)
_decode = msgspec.json.decode
_encode = msgspec.json.encode


@dataclass
class SimClock:
    """The replay's clock: it follows the events' `occurred_at`, never backwards."""

    current: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.current

    def move_to(self, when: dt.datetime) -> None:
        if when > self.current:
            self.current = when


class ShadowStore(MemoryStore):
    """A table of a shadow worker: it has no changelog (its engine makes none), and values are
    kept as put (no JSON round trip), which every handler takes. Its batches write it as they
    go (`WriteThrough`)."""

    def apply(self, partition: int, items: Mapping[str, Any], offset: int | None) -> None:
        data = self.data.get(partition)
        if data is None:
            data = self.data[partition] = {}
        for key, value in items.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value


class WriteThrough(Transaction):
    """A shadow's batch: its writes go to the stores at once, where a worker's wait in the
    transaction for the commit. Nothing in a shadow is given up (a batch that fails ends the
    backtest), so no batch needs its writes kept apart, and reads see them all the same: one
    dict write a put, where a worker's makes two (the transaction's, then the store's at the
    commit), and one lookup a get. The engine then finds no writes to apply."""

    def __init__(
        self, stores: Mapping[str, TableStore], place: Placement, source: Sources = str
    ) -> None:
        super().__init__(stores, place, source)
        self._data: dict[str, dict[int, dict[str, Any]]] = {}  # a table's stores' partitions
        for name, store in stores.items():
            if not isinstance(store, ShadowStore):
                raise TypeError(f"{name}: a shadow's table is a ShadowStore, not {store!r}")
            self._data[name] = store.data
        self._touched: set[int] = set()

    def get(self, table: str, partition: int, key: str) -> Any:
        tables = self._data.get(table)
        if tables is None:
            raise UnknownTable(table, list(self._data))
        data = tables.get(partition)
        return None if data is None else data.get(key)

    def put(self, table: str, partition: int, key: str, value: Any) -> None:
        tables = self._data.get(table)
        if tables is None:
            raise UnknownTable(table, list(self._data))
        data = tables.get(partition)
        if data is None:
            data = tables[partition] = {}
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        self._touched.add(partition)

    @property
    def partitions(self) -> set[int]:
        return self._touched | super().partitions

    def emit_made(
        self,
        source: int,
        topic: str,
        key: bytes | None,
        made: msgspec.Struct,
        output_id: str,
        partition: int | None = None,
    ) -> None:
        """`made` goes to the agent of its internal topic as it is, unencoded (its JSON is made
        only for a topic tapped as an output: `ShadowLog.send`)."""
        where = self._place(topic, key) if partition is None else partition
        record = _Made(topic, where, key, None, output_id, self._source(source), made)
        self.outputs.append((source, record))


class _Made(Record, frozen=True, gc=False):
    """An output of `WriteThrough.emit_made`: the record, its JSON not made (`value` None)."""

    made: Any = None


class _Arrival(msgspec.Struct, gc=False):
    """An input record as the engine's agents see it (a worker's `Arrival`, the same fields),
    made straight from a `Record` as a struct: made in C, where an `Arrival` sets eleven
    attributes in Python. No broker time: a replay has no arrival latency to observe."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    decoded: Any
    tp: None = None  # the engine goes by topic and partition
    headers: tuple[()] = ()
    timestamp: None = None
    generation_id: int = 0
    acked: bool = False

    @property
    def message(self) -> _Arrival:
        return self


class ShadowLog:
    """The engines' sender and output log: records of a topic an agent reads are queued for
    it as it takes them (`_Arrival`, at the next offset of their topic partition), those of
    `outputs` (contract outputs, and any internal topic tapped) go to `on_output`, any other is
    dropped."""

    def __init__(self, internal: set[str], outputs: Mapping[str, str], on_output: OnOutput):
        self.internal = internal
        self.outputs = outputs  # full topic name -> contract name
        self.on_output = on_output
        self.queues: dict[str, list[_Arrival]] = {}  # topic -> arrivals not yet taken
        self.positions: dict[tuple[str, int], int] = {}  # the last offset of a topic partition

    def arrival(self, record: Record, decoded: Any) -> _Arrival:
        """`record` as its agent takes it, at the next offset of its topic partition."""
        tp = (record.topic, record.partition)
        offset = self.positions[tp] = self.positions.get(tp, -1) + 1
        return _Arrival(record.topic, record.partition, offset, record.key, record.value, decoded)

    async def send(self, records: Sequence[Record]) -> Sent:
        """Confirms at once, with no offsets: the shadow's engines make no checkpoint (which is
        what offsets are for). A record `WriteThrough.emit_made` made goes to its agent as
        made, and its JSON is made only if its topic is tapped."""
        internal, outputs, queues = self.internal, self.outputs, self.queues
        on_output, arrival = self.on_output, self.arrival
        for record in records:
            topic = record.topic
            contract = outputs.get(topic)
            made = record.made if type(record) is _Made else None
            if contract is not None:
                value = record.value if made is None else _encode(made)
                if value is not None:
                    on_output(contract, record.key, value)
            if topic in internal:
                queue = queues.get(topic)
                if queue is None:
                    queue = queues[topic] = []
                queue.append(arrival(record, made))
        return Sent({}, [])

    async def ids_since(
        self, starts: Mapping[str, int], topics: Sequence[str], source: str
    ) -> OutputsSeen:
        return OutputsSeen(set(), {})  # nothing crashes in a backtest: nothing to read back


async def _no_sleep(_: float) -> None:
    return None


def _unobserved(_: BatchStats) -> None:
    return None


class ShadowWorker:
    def __init__(
        self,
        settings: Settings,
        rules: Rules,
        clock: SimClock,
        on_output: OnOutput,
        output_topics: Sequence[str],
        on_score: OnScore | None = None,
    ) -> None:
        """`on_score`: where published scores go instead of `on_output`, each as the function
        that makes its JSON (a tally reads each contact's last one only: the others are never
        made, which was 14% of the instructions of a day's replay)."""
        self.settings, self.clock = settings, clock
        app = faust.App(settings.app_id, **{**faust_options(settings), "web_enabled": False})
        self.ctx = AppContext(settings, rules, clock, UnobservedMetrics(), app)
        self.wiring: Wiring = wire(self.ctx)
        engines = self.wiring.engines
        self.handlers = engines.handlers
        internal = set(self.handlers)  # what an agent reads goes back to it (misplaced inputs too)
        outputs = {settings.topic(t): t for t in output_topics}
        self.log = ShadowLog(internal, outputs, on_output)
        self.stores: dict[str, ShadowStore] = {}
        for engine in engines.groups.values():
            io = engine.io
            io.stores = {n: self.stores.setdefault(n, ShadowStore(n)) for n in io.stores}
            io.sender = io.output_log = self.log
            io.owns = lambda partition: True
            io.sleep = _no_sleep
            io.changelog = False  # the stores are the memory itself: no changelog, no checkpoint
            io.transaction = WriteThrough
            io.clock = lambda: clock.now().timestamp()
            io.on_committed = _unobserved  # its metrics are of a worker's batches
        # in a replay nothing is ever behind: deadlines are judged at the replay's clock
        self.wiring.triggers.inputs.horizon = lambda now: now  # type: ignore[method-assign]
        self.ctx.view = None  # nothing goes to Redis: no router dashboard,
        self.wiring.scoring.view = None  # no lead view
        self.wiring.scoring.keep_profiles(PROFILES)
        self.wiring.scoring.score_sink = on_score
        self.router_topic = self.wiring.router.topic_name

    async def feed(self, records: Sequence[Record], decoded: Sequence[Any] | None = None) -> None:
        """Input records (contract topics, full names), then everything they cause. `decoded`:
        each record's value as its input topic's decoder gives it (`Decoded`, `Rejection`), when
        the caller decoded it already (shared by the rule sets: events are frozen)."""
        by_topic: dict[str, list[_Arrival]] = {}
        values = decoded if decoded is not None else [None] * len(records)
        arrive = self.log.arrival
        for record, value in zip(records, values, strict=True):
            arrivals = by_topic.get(record.topic)
            if arrivals is None:
                arrivals = by_topic[record.topic] = []
            arrivals.append(arrive(record, value))
        for topic, arrivals in by_topic.items():  # one batch per topic, as its agent takes
            await self._run(topic, arrivals)  # a poll of all its partitions
        await self.drain()

    async def tick(self) -> None:
        """One tick of every partition (triggers, decay), and of the router when it has work
        due (a tick of another feature is no reason to go through its queues)."""
        for partition in range(self.settings.partitions):
            await self.wiring.ticks.tick(partition)  # each does nothing when nothing is due
        if self.wiring.router.next_due() <= self.clock.now().timestamp():
            await self.log.send([Record(self.router_topic, 0, b"router", _TICK)])
        await self.drain()

    def next_due(self) -> float:
        """The earliest time a tick has work (triggers, decay, the router's queue and SLAs)."""
        w, partitions = self.wiring, self.settings.partitions
        return min(
            w.triggers.next_due(partitions), w.scoring.next_due(partitions), w.router.next_due()
        )

    async def drain(self) -> None:
        queues = self.log.queues
        while queues:
            topic = next(iter(queues))
            await self._run(topic, queues.pop(topic))

    async def _run(self, topic: str, arrivals: list[_Arrival]) -> None:
        """Records of one topic (any partitions), as its agent takes them: in batches."""
        found = self.handlers.get(topic)
        if found is None:
            return
        group, handle = found
        engine = self.wiring.engines.groups[group]
        for chunk in range(0, len(arrivals), MAX_BATCH):  # as the workers' agents take them
            await engine.run_inputs(arrivals[chunk : chunk + MAX_BATCH], handle)
