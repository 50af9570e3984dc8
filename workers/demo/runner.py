"""Run the demo: stack up, topics, a worker, traffic, the live view; Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
from rich.console import Console
from rich.live import Live

from workers.demo.feed import Feed, follow, poll_worker
from workers.demo.view import render_feed, status_line, summary
from workers.devstack import LocalStack
from workers.devstack.processes import free_port, tied
from workers.settings import Settings
from workers.simulate.publisher import Publisher, clock_setting
from workers.simulate.simulator import SimulationConfig
from workers.topics.admin import create_topics

STATUS_EVERY = 10.0  # seconds between status lines when the output is not a terminal


def run_demo(
    workdir: Path, *, duration: float | None, rate: float, seed: int, factor: float = 8640.0
) -> int:
    console = Console()
    logging.getLogger().setLevel(logging.WARNING)  # the view is the output; the log is a file
    # `kill -USR1` prints where every thread is (a demo slow to stop says what it waits for)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Ctrl-C stops it, also when started from a script that ignores SIGINT (a background job
    # of a non-interactive shell inherits SIGINT ignored: Ctrl-C then did nothing)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = workdir.resolve()
    stale = LocalStack.load(workdir)
    if stale is not None:
        stale.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # every demo starts from empty topics and tables
    stack = LocalStack.create(workdir)
    worker: subprocess.Popen[bytes] | None = None
    feed = Feed()  # filled while it runs; summarised however it ends (Ctrl-C included)
    console.print("[bold]dealstream demo[/]: starting Kafka (KRaft) and Redis on 127.0.0.1 …")
    try:
        stack.start()
        port = free_port()
        env = {
            **os.environ,
            **stack.env(),
            "DEALSTREAM_DATA_DIR": str(workdir / "worker-data"),
            "DEALSTREAM_WEB_PORT": str(port),
            "DEALSTREAM_PARTITIONS": "4",
            "DEALSTREAM_CLOCK": clock_setting(factor, anchor := time.time()),
        }
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("DEALSTREAM_")})
        asyncio.run(create_topics(settings))
        log = (workdir / "worker.log").open("ab")
        worker = subprocess.Popen(
            tied([sys.executable, "-m", "workers.cli.main", "worker"]),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        console.print(f"worker starting (log: {workdir / 'worker.log'}) …")
        _wait_ready(port, worker)
        config = SimulationConfig(seed=seed, rate=rate, factor=factor)
        console.print(
            f"simulating: seed {seed}, {rate:g} engagements/s, a simulated day every "
            f"{86400 / factor:.0f} s; Prometheus can scrape http://127.0.0.1:{port}/metrics",
            soft_wrap=True,  # whole, in a pipe too (the URL is copied from it)
        )
        asyncio.run(_traffic_and_view(console, feed, settings, port, duration, config, anchor))
    except KeyboardInterrupt:
        console.print("stopping …")
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        stack.stop()
        (workdir / "last-view.json").write_bytes(orjson.dumps(feed.snapshot()))
        console.print(summary(feed))
        console.print("demo stopped; nothing left running.")
    return 0


def _wait_ready(port: int, worker: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError("the worker exited during start-up; see worker.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the worker did not become ready; see worker.log")


async def _traffic_and_view(
    console: Console, feed: Feed, settings: Settings, port: int, duration: float | None,
    config: SimulationConfig, anchor: float,
) -> None:  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    publisher = Publisher(settings, config, anchor, decisions=feed.take_decisions)
    started = time.monotonic()
    background = [
        asyncio.create_task(follow(feed, settings)),
        asyncio.create_task(poll_worker(feed, base)),
    ]
    # a terminal gets the live view; a pipe or a file a status line every 10 s (a live view
    # there prints nothing until it stops)
    live = (
        Live(console=console, refresh_per_second=2, screen=False) if console.is_terminal else None
    )
    with live if live is not None else contextlib.nullcontext():
        shown = {"at": 0.0}
        every = 0.5 if live is not None else STATUS_EVERY

        def refresh(pub: Publisher) -> None:
            now = time.monotonic()
            if now - shown["at"] < every:
                return
            shown["at"] = now
            size = console.size
            feed.header = {
                "sent": sum(pub.sent.values()),
                "sim_now": pub.clock.now().isoformat(),
                "elapsed": now - started,
                "metrics_url": f"{base}/metrics",
            }
            if live is not None:
                live.update(render_feed(feed, size.width, size.height))
            else:
                console.print(status_line(feed), highlight=False, soft_wrap=True)

        try:
            await publisher.run(duration, on_tick=refresh)
            await asyncio.sleep(2.0)  # let the last outputs arrive for the summary
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
