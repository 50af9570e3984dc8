"""Run the demo: stack up, topics, a worker, traffic, the live view; Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.live import Live

from workers.demo.traffic import demo_events
from workers.demo.view import render
from workers.devstack import LocalStack
from workers.devstack.processes import free_port
from workers.settings import Settings
from workers.topics.admin import create_topics


def run_demo(workdir: Path, *, duration: float | None, rate: float, seed: int) -> int:
    console = Console()
    workdir = workdir.resolve()
    stale = LocalStack.load(workdir)
    if stale is not None:
        stale.stop()
    shutil.rmtree(workdir, ignore_errors=True)  # every demo starts from empty topics and tables
    stack = LocalStack.create(workdir)
    worker: subprocess.Popen[bytes] | None = None
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
        }
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("DEALSTREAM_")})
        asyncio.run(create_topics(settings))
        log = (workdir / "worker.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        console.print(f"worker starting (log: {workdir / 'worker.log'}) …")
        _wait_ready(port, worker)
        asyncio.run(_traffic_and_view(console, settings, port, duration, rate, seed))
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
    console: Console, settings: Settings, port: int, duration: float | None, rate: float, seed: int
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.brokers, acks="all", enable_idempotence=True
    )
    await producer.start()
    events = demo_events(seed, dt.datetime.now(dt.UTC))
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    started = time.monotonic()
    sent = 0
    try:
        with Live(console=console, refresh_per_second=2) as live:
            while duration is None or time.monotonic() - started < duration:
                tick = time.monotonic()
                for _ in range(max(1, int(rate / 2))):
                    topic, key, value = next(events)
                    await producer.send(settings.topic(topic), value, key=key)
                    sent += 1
                text = await asyncio.to_thread(_fetch, metrics_url)
                elapsed = time.monotonic() - started
                live.update(
                    render(
                        text,
                        sent=sent,
                        rate=sent / max(elapsed, 1e-9),
                        metrics_url=metrics_url,
                        elapsed=elapsed,
                    )
                )
                await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    finally:
        await producer.stop()


def _fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bytes(resp.read()).decode()
    except OSError:
        return ""
