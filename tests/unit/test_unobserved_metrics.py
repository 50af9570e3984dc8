"""A backtest's shadow workers record no metrics: the same attributes, each doing nothing."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from workers.observability.metrics import Metrics
from workers.observability.unobserved import UnobservedMetrics


def test_every_metric_of_a_worker_is_there_and_records_nothing() -> None:
    real, silent = Metrics(), UnobservedMetrics()
    metric_names = {n for n, v in vars(real).items() if isinstance(v, MetricWrapperBase)}
    assert len(metric_names) > 30
    assert not [n for n in metric_names if isinstance(getattr(silent, n), MetricWrapperBase)]
    silent.events_valid.labels("crm.contacts").inc(3)
    silent.events_valid.labels(topic="crm.contacts").inc()
    silent.consumer_lag.labels("crm.contacts", "0").set(5)
    silent.processing_latency.labels("crm.contacts").observe(0.2)
    silent.consumer_lag.clear()
    with silent.engine_batch_seconds.labels("scoring").time():
        pass
    assert samples(silent) == samples(Metrics())  # as made: nothing recorded


def samples(m: Metrics) -> list[str]:
    text = generate_latest(m.registry).decode()
    return [line for line in text.splitlines() if line.startswith("dealstream_")]
