"""`dealstream worker`: run the Faust app until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from typing import NoReturn

from faust.worker import Worker

from workers.rules.loader import load_rules
from workers.runtime.app import build_app
from workers.settings import Settings


def run_worker(settings: Settings) -> NoReturn:
    rules = load_rules(settings.rules_file)
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
    worker = Worker(ctx.app, loglevel=settings.log_level.upper(), quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG, which makes every library's
    # debug call build a log record (a tenth of the CPU under load): no spinner for a service.
    worker.spinner = None
    worker.execute_from_commandline()
