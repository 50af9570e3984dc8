"""The app's engines: one per group of tables (an entity), each the single writer of its tables.

Features register the tables they write and the topics they read and write under a group;
every agent that changes those tables runs its batches through the group's engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from workers.engine.engine import BatchStats, Engine, EngineIO, Work, settle
from workers.engine.errors import PartitionMoved
from workers.ingest.partitioning import expected_partition
from workers.runtime.context import AppContext
from workers.runtime.engine_io import FaustTableStore, KafkaOutputLog, KafkaSender
from workers.runtime.feeds import Feeds, ack_all, batching_consumer
from workers.runtime.stall_guard import INTERVAL, StallGuard, look_and_seek
from workers.runtime.tables import json_table

log = logging.getLogger(__name__)

BatchHandler = Callable[[list[Any]], Work]  # a batch of Faust events -> the engine's work

OUTBOX = "outbox"
MAX_BATCH = 2000
SETTLE_TIMEOUT = 10.0  # seconds a rebalance or a stop waits for a running batch


class Engines:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.outbox = json_table(ctx.app, ctx.settings, OUTBOX, "Engine checkpoints per partition")
        self.sender = KafkaSender(ctx.app)
        self.feeds = Feeds()
        self.stop_worker: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM)
        ctx.app.transport.Consumer = batching_consumer(self.feeds, self._settle)
        self.output_log = KafkaOutputLog(ctx.settings)
        self.groups: dict[str, Engine] = {}
        self.inputs: dict[str, set[str]] = {}
        self.single: set[str] = set()  # single-partition topics (the router's)
        self.partitions = ctx.settings.partitions  # of every other topic
        self.assigned: set[tuple[str, int]] = set()  # (topic, partition) of this worker
        self.handlers: dict[str, tuple[str, BatchHandler]] = {}  # topic -> (group, handle)
        ctx.app.on_partitions_assigned.connect(self._assigned)
        ctx.app.on_partitions_revoked.connect(self._revoked)

        @ctx.app.task
        async def warm_output_log() -> None:  # the first batch need not wait for it
            topics = sorted({t for e in self.groups.values() for t in e.output_topics})
            await self.output_log.warm(topics)

        self.stalls = StallGuard()

        @ctx.app.timer(INTERVAL)
        async def guard_commits() -> None:  # a partition whose commit cannot move: sought back
            await look_and_seek(ctx.app, self.stalls, list(self.feeds.by_topic), self.idle,
                                self._stalled)  # fmt: skip

    def engine(self, group: str) -> Engine:
        found = self.groups.get(group)
        ctx_app = self.ctx.app
        if found is None:
            io = EngineIO(
                stores={OUTBOX: FaustTableStore(self.outbox)},
                sender=self.sender,
                output_log=self.output_log,
                place=self.place,
                owns=lambda partition: self.owns(group, partition),
                on_retry=lambda error: self._retried(group, error),
                epoch=lambda: int(ctx_app.consumer_generation_id or 0),
                on_committed=lambda stats: self._committed(group, stats),
            )
            found = self.groups[group] = Engine(group, io, OUTBOX, [])
            self.inputs[group] = set()
        return found

    def single_partition(self, group: str) -> Engine:
        """`group` (the router) writes single-partition tables: its checkpoints go to a
        single-partition table of its own, assigned with them. In the shared outbox (one
        partition per input partition) they landed in partition 0 on a worker that need not own
        it, and moved that local store's persisted offset past records it never applied. The
        old place is still read once, when the new table has no checkpoint yet."""
        if group in self.groups:
            raise ValueError(f"engine {group!r} exists already: declare it single-partition first")
        name = f"{OUTBOX}-{group}"
        table = json_table(self.ctx.app, self.ctx.settings, name, f"{group} checkpoints", 1)
        engine = self.engine(group)
        engine.io.stores[name] = FaustTableStore(table)  # type: ignore[index]
        engine.checkpoints, engine.legacy_checkpoints = name, OUTBOX
        return engine

    def table(self, group: str, table: Any) -> Any:
        """`table` (a Faust table) is written by `group`'s engine only."""
        self.engine(group).io.stores[table.name] = FaustTableStore(table)  # type: ignore[index]
        return table

    def output(self, group: str, topic: str) -> str:
        """`topic` (contract name) may receive outputs of `group`; returns the full name."""
        name = self.ctx.settings.topic(topic)
        outputs = self.engine(group).output_topics
        if name not in outputs:
            outputs.append(name)
        return name

    def input(self, group: str, topic: str) -> None:
        self.engine(group)
        self.inputs[group].add(self.ctx.settings.topic(topic))

    def place(self, topic: str, key: bytes | None) -> int:
        if key is None or topic in self.single:
            return 0
        return expected_partition(key, self.partitions)

    def owns(self, group: str, partition: int) -> bool:
        """Whether an input partition of `group` is assigned here (kept from the rebalance
        callbacks: asking Faust's consumer each time cost 8 % of a scoring worker's CPU)."""
        topics = self.inputs.get(group, set())
        return any((topic, partition) in self.assigned for topic in topics)

    def idle(self, topic: str) -> bool:
        """Whether none of `topic`'s records waits in its feed or runs in its engine."""
        feed = self.feeds.by_topic.get(topic)
        handler = self.handlers.get(topic)
        engine = self.groups.get(handler[0]) if handler else None
        return (feed is None or feed.empty) and (engine is None or not engine.lock.locked())

    def _stalled(self, topic: str, reason: str) -> None:
        name = topic[len(self.ctx.settings.topic_prefix) :]
        self.ctx.metrics.partition_stalls.labels(name, reason).inc()

    def _retried(self, group: str, error: BaseException) -> None:
        self.ctx.metrics.handler_retries.labels(type(error).__name__).inc()
        log.warning("%s: %s; retrying", group, error)

    async def _assigned(self, sender: Any, assigned: set[Any], **_: Any) -> None:
        consumer = self.ctx.app.consumer
        current = consumer.assignment() if consumer is not None else assigned
        self.assigned = {(tp.topic, tp.partition) for tp in current}
        self._reset_engines({tp.partition for tp in assigned})

    async def _revoked(self, sender: Any, revoked: set[Any], **_: Any) -> None:
        self.assigned -= {(tp.topic, tp.partition) for tp in revoked}
        self._reset_engines({tp.partition for tp in revoked})

    async def _settle(self) -> None:
        """Partitions are about to be revoked, or the worker stops: nothing is this worker's
        from here on, so a running batch gives itself up at its next step, and Faust goes on
        (flushes the producer, rejoins or leaves the group) once it has. Without the wait, a
        batch whose send the broker had not confirmed yet could see its records land after
        another worker had restored and verified the same partitions."""
        self.assigned = set()
        engines = list(self.groups.values())
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await settle(engines)
        except TimeoutError:
            late = [engine.name for engine in engines if engine.lock.locked()]
            log.warning("%s: a batch still running after %.0f s; the rebalance goes on",
                        ", ".join(late), SETTLE_TIMEOUT)  # fmt: skip

    def _reset_engines(self, partitions: set[int]) -> None:
        for engine in self.groups.values():
            engine.reset(partitions)

    def agent(self, group: str, topic: Any, name: str, handle: BatchHandler) -> None:
        """An agent on `topic` (a Faust topic, its one reader) whose batches go through
        `group`'s engine: whole polls from its feed; `handle(events)` gives the work of a
        batch, and its events are acknowledged once the batch is committed."""
        name_of_topic = topic.get_topic_name()
        feed = self.feeds.register(name_of_topic)
        self.handlers[name_of_topic] = (group, handle)
        engine = self.engine(group)
        app = self.ctx.app

        async def body(stream: Any) -> None:  # Faust's stream stays empty: the feed has it all
            async for events in self.feeds.batches(app, feed, MAX_BATCH):
                await self.commit(group, engine, events, handle)

        app.agent(topic, name=name)(body)

    async def _stop_for(self, group: str) -> None:
        """A batch failed with an error that is neither bad input (dead-lettered by the steps)
        nor the broker's (retried by the engine): a bug. Faust would restart the agent on the
        next poll, and acknowledging that one would commit past the failed batch, skipping
        valid input. Instead the worker stops: its partitions restart from their committed
        offsets, here or on another worker, and nothing is skipped."""
        log.critical(
            "%s: a batch failed (traceback above or below); the worker stops so that no input "
            "is skipped: its partitions restart from their committed offsets",
            group,
            exc_info=True,
        )
        self.stop_worker()
        await asyncio.Event().wait()  # this agent takes no further batch

    async def commit(
        self, group: str, engine: Engine, events: list[Any], handle: BatchHandler
    ) -> None:
        started = time.perf_counter()
        try:
            _, skipped = await engine.run_inputs([e.message for e in events], handle)
        except PartitionMoved as moved:
            # Nothing of the batch is acknowledged: after the rebalance Faust seeks every
            # assigned partition to its committed offset, and whoever owns them processes
            # the inputs again (the outbox keeps what was delivered from being sent twice).
            log.warning("%s", moved)
            return
        except Exception:
            await self._stop_for(group)
            raise
        ack_all(self.ctx.app.consumer, events)
        metrics = self.ctx.metrics
        if skipped:  # applied by a committed batch, then fetched again (a crash, a rebalance)
            prefix = len(self.ctx.settings.topic_prefix)
            for topic, n in Counter(e.topic[prefix:] for e in skipped).items():
                metrics.replays.labels(topic).inc(n)
        metrics.engine_batch_events.labels(group).observe(len(events))
        metrics.engine_batch_seconds.labels(group).observe(time.perf_counter() - started)

    def _committed(self, group: str, stats: BatchStats) -> None:
        """Every committed batch of `group`: of an agent, a tick or a buyer action alike."""
        metrics = self.ctx.metrics
        metrics.engine_outputs.labels(group).inc(stats.outputs)
        metrics.engine_outputs_suppressed.labels(group).inc(stats.suppressed)
