"""A whole worker in process: the real wiring of every feature (workers/runtime/app.py `wire`)
on an unstarted Faust app, with dict stores, one recording broker and a fixed clock.

The broker is a `RecordingLog`: CRM input is appended to it, every engine output and
changelog record is sent to it, and `run()` is the consumer loop: it hands each topic
partition's new records, in offset order and in batches, to the agent that reads the topic
(inputs, repartitioned inputs, the router's topic), the way `Engines.commit` does, and commits
the positions reached only when nothing is left (Faust commits acknowledged offsets on an
interval, well after their batches). A `Crash` (`log.crash_after`) stops the loop like a
kill -9: the positions stay where the last completed run left them, so batches the engine
committed come again, and `restart()` builds a new worker (fresh memory, the same stores, or
stores rebuilt from their changelogs) that goes on from there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import msgspec
import orjson

from tests.doubles import DictStore, FixedClock, RecordingLog
from workers.engine.records import Record, parse_tp
from workers.ingest.partitioning import expected_partition
from workers.observability.metrics import Metrics
from workers.rules.loader import parse_rules
from workers.runtime.app import Wiring, faust_options, wire
from workers.runtime.context import AppContext
from workers.runtime.feeds import Arrival
from workers.runtime.router_inputs import RouterMessage
from workers.settings import Settings

PARTITIONS = 4


async def _no_sleep(_: float) -> None:
    return None


class _Stored:
    """A record of the log as a consumer reads it (what `Arrival` is built from)."""

    __slots__ = ("headers", "key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(self, record: Record, offset: int, millis: int) -> None:
        self.topic, self.partition, self.offset = record.topic, record.partition, offset
        self.key, self.value, self.headers, self.timestamp = record.key, record.value, (), millis


@dataclass
class Broker:
    """What outlives a worker: the log, the committed positions, the local stores."""

    log: RecordingLog = field(default_factory=RecordingLog)
    committed: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> next offset
    stores: dict[str, DictStore] = field(default_factory=dict)


class InProcessWorker:
    def __init__(
        self,
        rules: str,
        tmp_path: Path,
        *,
        clock: FixedClock | None = None,
        broker: Broker | None = None,
        batch: int = 50,
    ) -> None:
        self.rules_text, self.tmp_path, self.batch = rules, tmp_path, batch
        self.clock = clock or FixedClock()
        self.broker = broker or Broker()
        self.settings = Settings.from_env(
            {
                "DEALSTREAM_BROKERS": "127.0.0.1:9",
                "DEALSTREAM_DATA_DIR": str(tmp_path),
                "DEALSTREAM_STORE": "memory",
                "DEALSTREAM_PARTITIONS": str(PARTITIONS),
            }
        )
        app = faust.App(
            self.settings.app_id, **{**faust_options(self.settings), "web_enabled": False}
        )
        self.ctx = AppContext(self.settings, parse_rules(rules), self.clock, Metrics(), app)
        self.wiring: Wiring = wire(self.ctx)
        log, stores = self.broker.log, self.broker.stores
        for engine in self.wiring.engines.groups.values():
            io = engine.io
            io.stores = {name: stores.setdefault(name, DictStore(name)) for name in io.stores}
            io.sender = io.output_log = log
            io.owns = lambda partition: True
            io.sleep = _no_sleep
            io.clock = lambda: self.clock.now().timestamp()

    # --- the CRM side -----------------------------------------------------------------------
    def send(self, topic: str, key: str, **body: Any) -> None:
        """An input event on a contract topic, keyed and placed as the contract says."""
        body.setdefault("occurred_at", self.clock.now().isoformat())
        name = self.settings.topic(topic)
        partition = expected_partition(key.encode(), self.settings.partitions)
        self.broker.log.append(Record(name, partition, key.encode(), orjson.dumps(body)))

    # --- the consumer loop ------------------------------------------------------------------
    def run(self) -> int:
        """Hand every new record to its agent until nothing is left; the batches taken."""
        return asyncio.run(self._drain())

    async def _drain(self) -> int:
        handlers = self.wiring.engines.handlers
        engines = self.wiring.engines.groups
        committed = dict(self.broker.committed)  # Faust commits acknowledged offsets later:
        taken = 0  # here when the loop ends, so a crash processes the whole run's input again
        while True:
            progressed = False
            for tp, records in self.broker.log.positions().items():
                topic, _ = parse_tp(tp)
                found = handlers.get(topic)
                start = committed.get(tp, 0)
                if found is None or start >= len(records):
                    continue
                group, handle = found
                millis = int(self.clock.now().timestamp() * 1000)
                chunk = records[start : start + self.batch]
                arrivals = [
                    Arrival(tp, _Stored(r, start + i, millis), 0) for i, r in enumerate(chunk)
                ]
                await engines[group].run_inputs(arrivals, handle)
                committed[tp] = start + len(chunk)
                taken += 1
                progressed = True
            if not progressed:
                self.broker.committed.update(committed)
                return taken

    def tick(self) -> None:
        """One tick of every partition (triggers, decay) and of the router, then the loop.
        Before it, the triggers' input watermark reads the log's ends and committed positions
        (what workers/runtime/input_watermark.py reads from Kafka)."""
        self.observe_inputs()

        async def ticks() -> None:
            for partition in range(self.settings.partitions):
                await self.wiring.ticks.tick(partition)

        asyncio.run(ticks())
        tick = msgspec.json.encode(RouterMessage(kind="tick"))
        self.broker.log.append(Record(self.wiring.router.topic_name, 0, b"router", tick))
        self.run()

    def observe_inputs(self) -> None:
        inputs = self.wiring.triggers.inputs
        names = set(inputs.topics)
        ends = {
            tp: len(records)
            for tp, records in self.broker.log.positions().items()
            if parse_tp(tp)[0] in names
        }
        inputs.observe(self.clock.now().timestamp(), ends, dict(self.broker.committed))

    def advance(self, **delta: float) -> dt.datetime:
        return self.clock.advance(**delta)

    # --- after a crash ----------------------------------------------------------------------
    def restart(self, *, wiped: bool = False) -> InProcessWorker:
        """A new worker on the same broker (the crash's send budget spent): its memory is empty,
        its stores are the old ones (rocksdict) or, `wiped`, rebuilt from their changelogs."""
        self.broker.log.crash_after = None
        if wiped:
            for store in self.broker.stores.values():
                store.restore(self.broker.log)
        return InProcessWorker(
            self.rules_text, self.tmp_path, clock=self.clock, broker=self.broker, batch=self.batch
        )

    # --- what came out ----------------------------------------------------------------------
    def outputs(self, topic: str) -> list[dict[str, Any]]:
        return [
            orjson.loads(r.value or b"null")
            for r in self.broker.log.records_of(self.settings.topic(topic))
        ]

    def output_ids(self) -> Counter[tuple[str, str]]:
        """(topic, output id) of every output record sent, with how often."""
        return Counter(
            (r.topic, r.output_id) for r in self.broker.log.records if r.output_id is not None
        )

    def table(self, name: str) -> dict[str, Any]:
        """Every row of a table, across partitions (the engine's checkpoints left out)."""
        store = self.broker.stores[name]
        return {k: v for rows in store.data.values() for k, v in rows.items()}
