"""All metrics of a worker, in one registry per app (so tests can build several apps)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Self

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]


class _Children:
    """`labels(...)` remembered per label values: prometheus_client checks and formats them on
    every call (microseconds), and the hot paths ask for the same few children per batch."""

    _children: dict[tuple[Any, ...], Any]

    def labels(self, *values: Any, **by_name: Any) -> Self:
        if by_name:
            return super().labels(*values, **by_name)  # type: ignore[misc, no-any-return]
        children = self.__dict__.setdefault("_children", {})
        found = children.get(values)
        if found is None:
            found = children[values] = super().labels(*values)  # type: ignore[misc]
        return found  # type: ignore[no-any-return]

    def clear(self) -> None:
        self.__dict__.pop("_children", None)
        super().clear()  # type: ignore[misc]

    def remove(self, *values: Any) -> None:
        self.__dict__.pop("_children", None)
        super().remove(*values)  # type: ignore[misc]


class Counter(_Children, prometheus_client.Counter):
    pass


class Gauge(_Children, prometheus_client.Gauge):
    pass


class Histogram(_Children, prometheus_client.Histogram):
    pass


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

        self.rules_reloads = Counter(
            "dealstream_rules_reloads_total",
            "Rules versions applied without a restart (dealstream.rules)",
            registry=r,
        )
        self.rules_refused = Counter(
            "dealstream_rules_refused_total",
            "Published rules files that did not validate (the rules in force stayed)",
            registry=r,
        )
        self.handler_retries = Counter(
            "dealstream_handler_retries_total",
            "Handler attempts retried after an infrastructure error (never dead-lettered)",
            ["error"],
            registry=r,
        )
        self.partition_stalls = Counter(
            "dealstream_partition_stalls_total",
            "Input partitions whose commit was stuck, sought back to their committed offset",
            ["topic", "reason"],
            registry=r,
        )
        self.dead_letters_repeated = Counter(
            "dealstream_dead_letters_not_repeated_total",
            "Invalid inputs processed again (replay, crash) whose dead letter was already sent",
            ["topic"],
            registry=r,
        )
        self.mispartitioned = Counter(
            "dealstream_input_mispartitioned_total",
            "Input records on another partition than murmur2 of their key selects (moved there)",
            ["topic"],
            registry=r,
        )
        self.rules_rescore_remaining = Gauge(
            "dealstream_rules_rescore_remaining",
            "Contacts of this worker's partitions still scored by an older rules version",
            registry=r,
        )
        self.trigger_firings = Counter(
            "dealstream_trigger_firings_total",
            "Time-in-stage trigger firings",
            ["trigger"],
            registry=r,
        )
        self.trigger_lateness = Histogram(
            "dealstream_trigger_lateness_seconds",
            "Seconds between a firing's due time and its emission",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86400),
            registry=r,
        )
        self.trigger_periods_skipped = Counter(
            "dealstream_trigger_periods_skipped_total",
            "Missed periods not fired because of the trigger's catch_up rule",
            ["trigger"],
            registry=r,
        )
        self.trigger_hold = Gauge(
            "dealstream_trigger_hold_seconds",
            "Seconds behind the clock that deadlines are judged: the input watermark of "
            "opportunities, engagements, links and buyer actions (at most backlog_hold)",
            registry=r,
        )
        self.pending_timers = Gauge(
            "dealstream_pending_timers", "Opportunities with a trigger period scheduled", registry=r
        )
        self.open_opportunities = Gauge(
            "dealstream_open_opportunities",
            "Open opportunities on this worker's partitions",
            ["pipeline", "stage"],
            registry=r,
        )
        self.lead_scores = Counter(
            "dealstream_lead_scores_total", "Score changes published on crm.lead-scores", registry=r
        )
        self.sales_ready_entries = Counter(
            "dealstream_sales_ready_entries_total", "Contacts entering sales-ready", registry=r
        )
        self.redis_view_pending = Gauge(
            "dealstream_redis_view_pending",
            "Contacts whose Redis view is not written yet",
            registry=r,
        )
        self.redis_view_up = Gauge(
            "dealstream_redis_view_up", "1 when the last write to Redis succeeded", registry=r
        )
        self.assignments = Counter(
            "dealstream_lead_assignments_total",
            "Routing decisions by product line and decision",
            ["product_line", "decision"],
            registry=r,
        )
        self.sla_reassignments = Counter(
            "dealstream_sla_reassignments_total",
            "Leads reassigned because the SLA expired",
            registry=r,
        )
        self.queue_depth = Gauge(
            "dealstream_lead_queue_depth",
            "Queued leads per product line",
            ["product_line"],
            registry=r,
        )
        self.time_to_assign = Histogram(
            "dealstream_time_to_assign_seconds",
            "Seconds from a lead becoming sales-ready to its routing decision",
            buckets=(0.1, 0.5, 1, 5, 30, 60, 300, 3600, 4 * 3600, 86400),
            registry=r,
        )
        self.stage_moves = Counter(
            "dealstream_stage_moves_total",
            "Stage moves asked of the CRM, by rule (a stage-move rule or a trigger)",
            ["rule"],
            registry=r,
        )
        self.notifications = Counter(
            "dealstream_rep_notifications_total",
            "Rep notifications sent, by kind",
            ["kind"],
            registry=r,
        )
        self.replies_unrouted = Counter(
            "dealstream_replies_unrouted_total",
            "Email replies with no rep to tell (no rep on the event, no assignment, no owner)",
            registry=r,
        )
        self.owner_changes = Counter(
            "dealstream_owner_changes_total",
            "Opportunity owner change commands",
            ["reason"],
            registry=r,
        )
        pipeline_stage = ["pipeline", "stage"]
        self.pipeline_open_deals = Gauge(
            "dealstream_pipeline_open_deals", "Open deals", pipeline_stage, registry=r
        )
        self.pipeline_open_value = Gauge(
            "dealstream_pipeline_open_value", "Value of open deals", pipeline_stage, registry=r
        )
        self.pipeline_weighted_forecast = Gauge(
            "dealstream_pipeline_weighted_forecast",
            "Sum of amount x win probability of open deals",
            pipeline_stage,
            registry=r,
        )
        self.pipeline_stuck_deals = Gauge(
            "dealstream_pipeline_stuck_deals",
            "Open deals longer in their stage than normal",
            pipeline_stage,
            registry=r,
        )
        self.pipeline_closed_deals = Gauge(
            "dealstream_pipeline_closed_deals",
            "Deals won or lost in the trailing window",
            ["pipeline", "outcome"],
            registry=r,
        )
        self.pipeline_won_value = Gauge(
            "dealstream_pipeline_won_value",
            "Value won in the trailing window",
            ["pipeline"],
            registry=r,
        )
        self.pipeline_cycle_seconds_sum = Gauge(
            "dealstream_pipeline_cycle_seconds_sum",
            "Sum of created-to-won seconds of deals won in the trailing window",
            ["pipeline"],
            registry=r,
        )
        self.pipeline_stage_seconds_sum = Gauge(
            "dealstream_pipeline_stage_seconds_sum",
            "Seconds spent in a stage (completed visits)",
            pipeline_stage,
            registry=r,
        )
        self.pipeline_stage_visits = Gauge(
            "dealstream_pipeline_stage_visits",
            "Completed visits of a stage",
            pipeline_stage,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "dealstream_consumer_lag_messages",
            "Messages not yet read, per assigned topic and partition (high water − next read)",
            ["topic", "partition"],
            registry=r,
        )
        self.processing_latency = Histogram(
            "dealstream_processing_latency_seconds",
            "Seconds from an input's Kafka timestamp to the end of its processing",
            ["topic"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.engine_batch_events = Histogram(
            "dealstream_engine_batch_events",
            "Inputs per committed engine batch",
            ["engine"],
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000),
            registry=r,
        )
        self.engine_batch_seconds = Histogram(
            "dealstream_engine_batch_seconds",
            "Seconds from a batch's start to its commit (outputs, state, checkpoint confirmed)",
            ["engine"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.engine_outputs = Counter(
            "dealstream_engine_outputs_total",
            "Records sent through an engine's outbox (confirmed by the broker)",
            ["engine"],
            registry=r,
        )
        self.engine_outputs_suppressed = Counter(
            "dealstream_engine_outputs_suppressed_total",
            "Outputs a replay re-derived that had been delivered before: not sent again",
            ["engine"],
            registry=r,
        )
        self.rebalances = Counter(
            "dealstream_rebalances_total", "Partition assignments received", registry=r
        )
        self.assigned_partitions = Gauge(
            "dealstream_assigned_partitions", "Partitions assigned to this worker", registry=r
        )
        self.recovery_remaining = Gauge(
            "dealstream_table_recovery_remaining_records",
            "Changelog records a table partition still has to restore (role: active or standby)",
            ["table", "partition", "role"],
            registry=r,
        )
        self.recovery_eta = Gauge(
            "dealstream_table_recovery_eta_seconds",
            "Estimated seconds until every active table partition is restored (0: none left)",
            registry=r,
        )
        self.restored_records = Counter(
            "dealstream_table_restored_records_total",
            "Changelog records written to the local table stores (restores and standbys)",
            registry=r,
        )
        self.index_rebuilds = Counter(
            "dealstream_index_rebuilds_total",
            "In-memory indexes rebuilt from a table partition (after an assignment or restore)",
            ["index"],
            registry=r,
        )
        self.index_rebuild_seconds = Counter(
            "dealstream_index_rebuild_seconds_total",
            "Wall time spent rebuilding in-memory indexes from table partitions",
            ["index"],
            registry=r,
        )
        self.index_rebuild_longest_slice = Gauge(
            "dealstream_index_rebuild_longest_slice_seconds",
            "Longest time the last index rebuild held the event loop without yielding",
            ["index"],
            registry=r,
        )
        self.loop_lag = Histogram(
            "dealstream_event_loop_lag_seconds",
            "How much later than asked the event loop woke a 50 ms sleeper (held by other work)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.gc_pause = Histogram(
            "dealstream_gc_pause_seconds",
            "Python garbage collector pauses (they stop the event loop)",
            ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.before_render: list[Callable[[], None]] = []
        self.before_render_async: list[Callable[[], Awaitable[None]]] = []

    async def render_async(self) -> bytes:
        """`render`, after the refreshes that work off the event loop."""
        for refresh in self.before_render_async:
            await refresh()
        return self.render()

    def render(self) -> bytes:
        for refresh in self.before_render:
            refresh()
        return generate_latest(self.registry)
