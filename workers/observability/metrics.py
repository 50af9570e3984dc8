"""All metrics of a worker, in one registry per app (so tests can build several apps)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.events_valid = Counter(
            "dealstream_events_valid_total", "Valid input events by topic", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "dealstream_dead_letters_total",
            "Inputs sent to the dead-letter topic, by topic and reason code",
            ["topic", "code"],
            registry=r,
        )
        self.duplicates = Counter(
            "dealstream_duplicate_events_total",
            "Input events ignored because their event_id was already processed",
            ["topic"],
            registry=r,
        )
        self.replays = Counter(
            "dealstream_replayed_events_total",
            "Input messages processed again after a crash or rebalance (same offset)",
            ["topic"],
            registry=r,
        )
        self.ready = Gauge(
            "dealstream_worker_ready",
            "1 when tables are recovered and the worker is ready",
            registry=r,
        )
        self.rules_info = Gauge(
            "dealstream_rules_info", "The rules version in force (value 1)", ["version"], registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
