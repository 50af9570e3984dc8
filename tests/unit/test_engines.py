"""The app's engines (workers/runtime/engines.py), built on a Faust app that is never started."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import faust
import pytest

from tests.doubles import DictStore, RecordingLog
from tests.unit.test_engine import make_engine
from workers.clock import clock_from_setting
from workers.engine.transaction import Transaction
from workers.observability.metrics import Metrics
from workers.rules.loader import parse_rules
from workers.runtime.app import faust_options
from workers.runtime.context import AppContext
from workers.runtime.engines import Engines
from workers.runtime.feeds import Arrival
from workers.settings import Settings


class _Record:
    topic, partition, key, value, headers, timestamp = "in", 0, b"k", b"v", (), None

    def __init__(self, offset: int) -> None:
        self.offset = offset


def engines(tmp_path: Any) -> Engines:
    settings = Settings.from_env(
        {"DEALSTREAM_BROKERS": "127.0.0.1:9", "DEALSTREAM_DATA_DIR": str(tmp_path)}
    )
    app = faust.App(settings.app_id, **{**faust_options(settings), "web_enabled": False})
    ctx = AppContext(
        settings, parse_rules("version: t\n"), clock_from_setting(settings.clock), Metrics(), app
    )
    return Engines(ctx)


def test_a_batch_that_fails_with_a_bug_stops_the_worker_and_acknowledges_nothing(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Faust would restart the agent and acknowledge the next poll, committing past the failed
    batch: valid input skipped. The worker stops instead, and the agent takes nothing more."""
    found = engines(tmp_path)
    stopped: list[bool] = []
    found.stop_worker = lambda: stopped.append(True)
    engine = make_engine(RecordingLog(), {"outbox": DictStore("outbox")})
    events = [Arrival("tp", _Record(o), 0) for o in range(3)]

    def handle(batch: list[Any]) -> Any:
        def work(tx: Transaction) -> None:
            raise KeyError("a bug in a step")

        return work

    async def run() -> None:
        task = asyncio.ensure_future(found.commit("g", engine, events, handle))
        await asyncio.sleep(0.05)
        assert not task.done()  # the agent waits for the worker to stop
        task.cancel()

    asyncio.run(run())
    assert stopped == [True]
    assert not any(e.acked for e in events)
    assert "the worker stops so that no input is skipped" in caplog.text


def test_outputs_of_every_batch_are_counted_whoever_runs_it(tmp_path: Any) -> None:
    """A tick or a buyer action runs `engine.run` itself, not through an agent's batch: its
    outputs count in `dealstream_engine_outputs_total` all the same."""
    found = engines(tmp_path)
    engine = found.engine("g")
    engine.io.stores["outbox"] = DictStore("outbox")  # type: ignore[index]
    log = RecordingLog()
    engine.io.sender = log
    engine.io.output_log = log
    engine.io.owns = lambda partition: True

    def work(tx: Transaction) -> None:
        tx.emit(0, "out", b"k", b"v", "id-1", 0)
        tx.emit(0, "out", b"k", b"v", "id-2", 0)

    asyncio.run(engine.run({0}, work))
    counted = found.ctx.metrics.engine_outputs.labels("g")._value.get()
    assert counted == 2


def test_before_faust_waits_for_its_agents_nothing_is_owned_and_running_batches_end(
    tmp_path: Any,
) -> None:
    """As partitions are revoked (and as the worker stops) Faust waits for the messages its
    agents started, then flushes the producer and rejoins or leaves the group. The consumer's
    wait first settles the engines: nothing is owned any more, and a batch still sending gives
    itself up at its next step, before any of that."""
    found = engines(tmp_path)
    found.assigned = {("in", 0)}
    engine = found.engine("g")
    order: list[str] = []

    async def run() -> None:
        await engine.lock.acquire()  # a batch is running

        async def batch_ends() -> None:
            await asyncio.sleep(0.05)
            order.append("batch given up")
            engine.lock.release()

        ending = asyncio.ensure_future(batch_ends())
        consumer = found.ctx.app.transport.Consumer
        source = inspect.getsource(consumer.wait_empty)
        assert source.index("await settle()") < source.index("super().wait_empty()")
        await found._settle()
        order.append("settled")
        await ending

    asyncio.run(run())
    assert order == ["batch given up", "settled"]
    assert found.assigned == set()


def test_faust_waits_for_its_agents_before_it_flushes_and_rejoins_or_leaves() -> None:
    """A canary for `Engines._settle`, reached through the consumer's `wait_empty`."""
    revoked = inspect.getsource(faust.App._on_partitions_revoked)
    waits = revoked.index("self._consumer_wait_empty")
    assert (
        waits < revoked.index("self._producer_flush") < revoked.index("on_partitions_revoked.send")
    )
    assert "consumer.wait_empty()" in inspect.getsource(faust.App._consumer_wait_empty)
    stop = inspect.getsource(faust.App.on_stop)
    assert stop.index("self._stop_consumer()") < stop.index("self._producer_flush")
    assert "self._consumer_wait_empty" in inspect.getsource(faust.App._stop_consumer)
