"""`dealstream worker`: run the Faust app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import NoReturn

from aiokafka.errors import KafkaError
from faust.worker import Worker

from workers.observability.log_guard import (
    RepeatLimiter,
    guard_handlers,
    install_redaction,
    secrets_of,
)
from workers.rules.errors import RulesError
from workers.rules.loader import load_rules
from workers.runtime.app import build_app
from workers.runtime.pacing import settle_heap, tune_collector, watch_collections
from workers.runtime.preflight import check_kafka
from workers.runtime.rules_topic import latest_published
from workers.settings import Settings

LIMITER = RepeatLimiter(interval=30.0)
LONG_GC_PAUSE = 0.05  # seconds: a collection this long is logged


class GuardedWorker(Worker):
    """Faust's worker, with the repeat limiter on every handler of the logging it sets up."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        guard_handlers(logger.handlers, LIMITER)


def run_worker(settings: Settings) -> NoReturn:
    install_redaction(secrets_of(settings.sasl_password, settings.redis_url))
    guard_handlers(logging.getLogger().handlers, LIMITER)
    rules = load_rules(settings.rules_file)
    loop = asyncio.new_event_loop()  # Faust makes its own loop afterwards
    try:
        loop.run_until_complete(
            check_kafka(settings, settings.startup_wait)
        )  # StartupError: one line, exit 1
        published = loop.run_until_complete(latest_published(settings))
    except (OSError, KafkaError, RulesError) as exc:  # the watcher catches up later
        logging.getLogger(__name__).warning("rules topic not read at start-up: %s", exc)
        published = None
    finally:
        loop.close()
    if published is not None and published[0].version != rules.version:
        logging.getLogger(__name__).info(
            "rules: the published version %s wins over %s (%s)",
            published[0].version,
            rules.version,
            settings.rules_file,
        )
        rules = published[0]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = build_app(settings, rules)
    logging.getLogger(__name__).info(
        "dealstream worker: brokers=%s store=%s rules=%s (version %s) web=%s:%d",
        ",".join(settings.broker_list),
        settings.store,
        settings.rules_file,
        rules.version,
        settings.web_host,
        settings.web_port,
    )
    pauses = ctx.metrics.gc_pause

    def collected(generation: int, took: float) -> None:
        pauses.labels(str(generation)).observe(took)
        if took >= LONG_GC_PAUSE:
            logging.getLogger(__name__).info(
                "garbage collection of generation %d held the loop %.0f ms", generation, took * 1000
            )

    watch_collections(collected)
    gc.collect()
    settle_heap()  # modules, rules, the app: long-lived; later collections need not walk them
    tune_collector()
    worker = GuardedWorker(ctx.app, loglevel=settings.log_level.upper(), quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG, which makes every library's
    # debug call build a log record (a tenth of the CPU under load): no spinner for a service.
    worker.spinner = None
    worker.execute_from_commandline()
