"""What every agent of one app shares: settings, rules, clock, metrics, output topics."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from workers.interfaces import Clock
from workers.observability.metrics import Metrics
from workers.rules import Rules
from workers.runtime.pacing import Pacer, settle_heap
from workers.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    rules: Rules
    clock: Clock
    metrics: Metrics
    app: Any  # faust.App (untyped library)
    view: Any = None  # the Redis lead view, once built
    pipelines: Any = None  # async () -> the /pipelines report of this worker

    def index_rebuilt(self, index: str, partition: int, rows: int, pacer: Pacer) -> None:
        """An in-memory index of `partition` rebuilt from its table: log, export, settle."""
        took = pacer.finish()
        m = self.metrics
        m.index_rebuilds.labels(index).inc()
        m.index_rebuild_seconds.labels(index).inc(took)
        m.index_rebuild_longest_slice.labels(index).set(pacer.longest)
        log.info(
            "partition %d: %s index rebuilt in %.2f s (%d rows, %.0f rows/s, "
            "longest slice %.0f ms, %.0f ms CPU)",
            partition, index, took, rows, rows / max(took, 1e-9),
            pacer.longest * 1000, pacer.longest_cpu * 1000,
        )  # fmt: skip
        settle_heap()

    async def emit(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Enqueue a record on a contract topic (prefix applied).

        Not awaited to delivery here: Faust flushes the producer before it commits the offsets
        of the events that caused the record, so a record is delivered before its cause commits.
        """
        await self.app.producer.send(self.settings.topic(topic), key, value, None, None, None)

    async def emit_confirmed(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Send a record and wait until the broker has it; a broker error is retried with
        back-off (the input that caused it waits: it is never skipped)."""
        delay = 0.5
        while True:
            try:
                sent = await self.app.producer.send(
                    self.settings.topic(topic), key, value, None, None, None
                )
                await sent
                return
            except KafkaError as exc:
                log.warning("%s: delivery failed (%s); retrying in %.1f s", topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
