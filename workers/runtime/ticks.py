"""One scheduler for every kind of deadline: ticks on a topic co-partitioned with the inputs.

`app.timer` runs on every worker and may not write tables, so each worker's timer sends a tick
to the partitions of the ticks topic it owns; the tick agent, running in that partition's
stream, calls every subscriber, which may then write the table rows of that partition.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from workers.engine.errors import PartitionMoved
from workers.runtime.context import AppContext
from workers.runtime.tables import raw_topic
from workers.topics.internal import TICKS

log = logging.getLogger(__name__)

OnTick = Callable[[int], Awaitable[None]]
OnReset = Callable[[set[int]], None]


class Ticks:
    def __init__(self, ctx: AppContext, interval: float) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.topic = raw_topic(ctx.app, settings, TICKS, retention=3600.0)
        self._subscribers: list[tuple[str, OnTick, OnReset]] = []
        ctx.app.agent(self.topic, name="ticks")(self._agent)
        ctx.app.timer(interval, name="tick-sender")(self._send)
        ctx.app.on_partitions_revoked.connect(self._reset)
        ctx.app.on_partitions_assigned.connect(self._reset)

    def subscribe(self, name: str, on_tick: OnTick, on_reset: OnReset) -> None:
        """`on_tick(partition)` on every tick; `on_reset(partitions)` when they move."""
        self._subscribers.append((name, on_tick, on_reset))

    async def _send(self) -> None:
        consumer = self.ctx.app.consumer
        if consumer is None:
            return
        name = self.topic.get_topic_name()
        for tp in consumer.assignment():
            if tp.topic == name:
                await self.ctx.app.producer.send(name, None, b"", tp.partition, None, None)

    async def _agent(self, stream: Any) -> None:
        app = self.ctx.app
        async for event in stream.events():
            message = event.message
            if message.generation_id != app.consumer_generation_id:
                continue  # sent before a rebalance: the partition may be another's, or restoring
            await self.tick(message.partition)

    async def tick(self, partition: int) -> None:
        """Every subscriber's work on `partition`, in the tick agent of that partition."""
        for name, on_tick, _ in self._subscribers:
            try:
                await on_tick(partition)
            except PartitionMoved as moved:  # a rebalance: the next tick comes from its owner
                log.info("%s: %s", name, moved)
            except Exception:
                log.exception("%s: tick of partition %d failed", name, partition)

    async def _reset(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        tps = args[0] if args else kwargs.get("revoked") or kwargs.get("assigned") or set()
        partitions = {tp.partition for tp in tps}
        for _, _, on_reset in self._subscribers:
            on_reset(partitions)
