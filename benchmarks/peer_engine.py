"""The engine's side of benchmarks/peer_quix.py: one Faust worker, one engine agent.

A running total per contact in the `totals` table, one output per event on
`peer-out-engine`, through the same `Engines` as `dealstream worker` (batches, one outbox,
changelog and outputs in partition batches, offsets acknowledged after the commit).
Run by the benchmark with BOOT (bootstrap servers) and STATE (data directory) set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import faust
import orjson

from workers.clock import clock_from_setting
from workers.engine.transaction import Transaction
from workers.observability.metrics import Metrics
from workers.rules.loader import parse_rules
from workers.runtime.app import faust_options
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.tables import json_table, raw_topic
from workers.settings import Settings

GROUP = "peer"


def build() -> faust.App:
    settings = Settings.from_env(
        {
            "DEALSTREAM_BROKERS": os.environ["BOOT"],
            "DEALSTREAM_APP_ID": "peer-engine",
            "DEALSTREAM_PARTITIONS": "4",
            "DEALSTREAM_DATA_DIR": os.environ["STATE"],
        }
    )
    options = {**faust_options(settings), "web_enabled": False}
    app = faust.App(settings.app_id, **options)
    rules = parse_rules("version: peer\n")
    ctx = AppContext(settings, rules, clock_from_setting(settings.clock), Metrics(), app)
    engines = Engines(ctx)
    totals = engines.table(GROUP, json_table(app, settings, "totals", "Running totals")).name
    out = engines.output(GROUP, "peer-out-engine")
    engines.input(GROUP, "peer-in")

    def handle(events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event in events:
                message = event.message
                value = orjson.loads(message.value)
                partition, key = message.partition, value["contact_id"]
                total = (tx.get(totals, partition, key) or 0) + value["amount"]
                tx.put(totals, partition, key, total)
                body = orjson.dumps({"contact_id": key, "total": total})
                output_id = f"{key}:{message.offset}"
                tx.emit(partition, out, message.key, body, output_id, partition)
                tx.applied(message.topic, partition, message.offset)

        return work

    engines.agent(GROUP, raw_topic(app, settings, "peer-in"), "peer", handle)
    return app


if __name__ == "__main__":  # pragma: no cover - the benchmark runs it
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    build().main()
