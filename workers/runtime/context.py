"""What every agent of one app shares: settings, rules, clock, metrics, output topics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workers.interfaces import Clock
from workers.observability.metrics import Metrics
from workers.rules import Rules
from workers.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    rules: Rules
    clock: Clock
    metrics: Metrics
    app: Any  # faust.App (untyped library)
    view: Any = None  # the Redis lead view, once built
    pipelines: Any = None  # () -> the /pipelines report of this worker

    async def emit(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Enqueue a record on a contract topic (prefix applied).

        Not awaited to delivery here: Faust flushes the producer before it commits the offsets
        of the events that caused the record, so a record is delivered before its cause commits.
        """
        await self.app.producer.send(self.settings.topic(topic), key, value, None, None, None)
