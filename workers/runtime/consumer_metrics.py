"""Consumer lag, rebalances and table recovery progress, read from Faust at scrape time."""

from __future__ import annotations

import logging
from typing import Any

from workers.runtime.context import AppContext

log = logging.getLogger(__name__)


def register_consumer_metrics(ctx: AppContext) -> None:
    app, metrics = ctx.app, ctx.metrics

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        metrics.rebalances.inc()
        metrics.assigned_partitions.set(len(assigned))

    def refresh() -> None:
        consumer = app._consumer  # never create one just for a scrape
        metrics.consumer_lag.clear()
        if consumer is None:
            return
        try:
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                read = consumer._read_offset.get(tp)  # last offset handed to a stream
                if high is None:
                    continue
                # before the first message of an assignment, everything up to high is pending
                pending = high - (read + 1 if read is not None else consumer_position(tp, high))
                metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, pending))
            recovery = app.tables.recovery
            metrics.recovery_remaining.labels("active").set(recovery.active_remaining_total())
            metrics.recovery_remaining.labels("standby").set(recovery.standby_remaining_total())
        except Exception:  # a scrape must never fail because Faust is mid-rebalance
            log.debug("consumer metrics unavailable", exc_info=True)

    def consumer_position(tp: Any, high: int) -> int:
        committed = app.consumer._committed_offset.get(tp)
        return int(committed) if committed is not None else high

    metrics.before_render.append(refresh)
