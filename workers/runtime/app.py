"""Build the Faust app with every agent that exists, from settings and rules."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust

from workers.clock import clock_from_setting
from workers.interfaces import Clock
from workers.kafka_client import ssl_context
from workers.observability.metrics import Metrics
from workers.rules import Rules
from workers.runtime.consumer_metrics import register_consumer_metrics
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.ingest_agents import Consumers, register_ingestion
from workers.runtime.move_agents import MoveRuntime
from workers.runtime.organization_agents import OrganizationRuntime
from workers.runtime.owner_agents import OwnerSyncRuntime
from workers.runtime.router_agents import RouterRuntime
from workers.runtime.rules_topic import RulesWatcher
from workers.runtime.scoring_agents import ScoringRuntime
from workers.runtime.ticks import Ticks
from workers.runtime.trigger_agents import TriggerRuntime
from workers.runtime.web import register_web
from workers.serving.redis_view import RedisLeadView
from workers.settings import Settings
from workers.triggers.durations import parse_duration

log = logging.getLogger(__name__)


def faust_options(settings: Settings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "broker": [f"kafka://{b}" for b in settings.broker_list],
        "store": "rocksdb://" if settings.store == "rocksdict" else "memory://",
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "web_enabled": True,
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_in_thread": False,
        "autodiscover": False,
        "producer_acks": -1,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        "broker_commit_every": 1000,
        "table_standby_replicas": 1,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": max(1.0, settings.session_timeout / 4),
        "stream_recovery_delay": 0.0,
        "producer_max_batch_size": 512 * 1024,  # the engine sends partition batches
        "key_serializer": "raw",
        "value_serializer": "raw",
        "TableManager": "workers.runtime.recovery:SeekFirstTableManager",
    }
    if settings.security_protocol != "PLAINTEXT":
        opts["broker_credentials"] = _credentials(settings)
    return opts


def _credentials(settings: Settings) -> Any:
    context = ssl_context(settings) if settings.security_protocol.endswith("SSL") else None
    if settings.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=settings.sasl_password,
        ssl_context=context,
        mechanism=settings.sasl_mechanism,
    )


@dataclass(frozen=True)
class Wiring:
    """Every feature of a worker, wired on its engines: what `build_app` starts, and what the
    in-process tests drive (tests/in_process.py) with dict stores and a recording broker."""

    engines: Engines
    ticks: Ticks
    triggers: TriggerRuntime
    scoring: ScoringRuntime
    organizations: OrganizationRuntime
    owners: OwnerSyncRuntime
    router: RouterRuntime
    moves: MoveRuntime
    view: RedisLeadView


def build_app(settings: Settings, rules: Rules, clock: Clock | None = None) -> AppContext:
    app = faust.App(settings.app_id, **faust_options(settings))
    ctx = AppContext(
        settings=settings,
        rules=rules,
        clock=clock or clock_from_setting(settings.clock),
        metrics=Metrics(),
        app=app,
    )
    ctx.metrics.rules_info.labels(rules.version).set(1)
    wiring = wire(ctx)
    view = wiring.view

    @app.task
    async def start_view() -> None:
        view.start()

    register_web(ctx)
    register_consumer_metrics(ctx)
    runtimes = (wiring.triggers, wiring.scoring, wiring.router, wiring.owners, wiring.moves)

    def apply_rules(new: Rules) -> None:
        """Switch every runtime to `new` at once (between two events of every agent)."""
        ctx.rules = new
        for runtime in runtimes:
            runtime.reload(new)
        ctx.metrics.rules_info.clear()
        ctx.metrics.rules_info.labels(new.version).set(1)
        ctx.metrics.rules_reloads.inc()

    watcher = RulesWatcher(
        settings,
        current=lambda: ctx.rules.version,
        apply=apply_rules,
        on_invalid=lambda error: ctx.metrics.rules_refused.inc(),
    )

    @app.task
    async def watch_rules() -> None:
        await watcher.run()

    return ctx


def wire(ctx: AppContext) -> Wiring:
    """The features on `ctx.app` (not started): engines, tables, topics and agents."""
    settings, rules = ctx.settings, ctx.rules
    engines = Engines(ctx)
    ticks = Ticks(ctx, parse_duration(rules.scheduler.tick_interval))
    triggers = TriggerRuntime(ctx, engines, ticks)
    view = RedisLeadView(settings.redis_url, f"{settings.app_id}")
    scoring = ScoringRuntime(ctx, engines, ticks, view)
    organizations = OrganizationRuntime(ctx, engines)
    owners = OwnerSyncRuntime(ctx, engines)
    router = RouterRuntime(ctx, engines, parse_duration(rules.scheduler.tick_interval))
    router.inputs.owner_of = owners.owner_of
    moves = MoveRuntime(ctx, engines, triggers, owners)
    consumers = {
        "crm.opportunities": Consumers(
            "opportunities", [triggers.on_opportunity, owners.on_opportunity]
        ),
        "crm.contacts": Consumers("contacts", [scoring.on_contact, owners.on_contact]),
        "crm.form-submissions": Consumers("contacts", [scoring.on_form]),
        "crm.engagements": Consumers(
            "contacts", [scoring.on_engagement, moves.on_engagement, router.inputs.on_engagement]
        ),
        "crm.organizations": Consumers("organizations", [organizations.on_organization]),
        "crm.reps": Consumers("reps", [router.inputs.on_rep]),
        "crm.rep-activities": Consumers("reps", [router.inputs.on_activity]),
    }

    def view_gauges() -> None:
        ctx.metrics.redis_view_pending.set(len(view.pending))
        ctx.metrics.redis_view_up.set(1 if view.healthy else 0)

    ctx.metrics.before_render.append(view_gauges)
    ctx.view = view
    ctx.pipelines = triggers.pipeline_report
    register_ingestion(ctx, engines, consumers)
    return Wiring(engines, ticks, triggers, scoring, organizations, owners, router, moves, view)
