"""Consumer lag, rebalances and table recovery progress, read from Faust at scrape time;
and the event loop's lag, watched all along."""

from __future__ import annotations

import logging
from typing import Any

from workers.observability.metrics import Metrics
from workers.runtime.context import AppContext
from workers.runtime.pacing import watch_loop

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
            restore_metrics.refresh(app.tables.recovery)
        except Exception:  # a scrape must never fail because Faust is mid-rebalance
            log.debug("consumer metrics unavailable", exc_info=True)

    restore_metrics = RestoreMetrics(metrics)

    @app.task
    async def event_loop_lag() -> None:
        await watch_loop(metrics.loop_lag.observe)

    def consumer_position(tp: Any, high: int) -> int:
        committed = app.consumer._committed_offset.get(tp)
        return int(committed) if committed is not None else high

    metrics.before_render.append(refresh)


class RestoreMetrics:
    """Remaining records per table partition, time to ready and records restored."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._counted = 0

    def refresh(self, recovery: Any) -> None:
        m = self.metrics
        m.recovery_remaining.clear()
        for row in recovery.remaining():
            m.recovery_remaining.labels(row.table, str(row.partition), row.role).set(row.records)
        eta = recovery.eta_seconds() if recovery.in_recovery else 0.0
        m.recovery_eta.set(float("nan") if eta is None else eta)
        restored = recovery.restored_total
        if restored > self._counted:
            m.restored_records.inc(restored - self._counted)
            self._counted = restored


def restore_progress(recovery: Any) -> dict[str, Any]:
    """What /readyz says while a worker restores its tables."""
    eta = recovery.eta_seconds()
    return {
        "remaining_records": recovery.active_remaining_total(),
        "records_per_second": round(recovery.rate.per_second()),
        "eta_seconds": None if eta is None else round(eta, 1),
    }
