"""A local stack and workers for end-to-end benchmarks (the same code as the tests use)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.devstack import LocalStack
from workers.devstack.processes import free_port, tied
from workers.settings import Settings
from workers.topics.admin import create_topics


@contextmanager
def local_stack() -> Iterator[LocalStack]:
    stack = LocalStack.create(Path(tempfile.mkdtemp(prefix="ds-bench-stack-")))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def bench_env(stack: LocalStack, workdir: Path, **extra: str) -> dict[str, str]:
    prefix = f"b{uuid.uuid4().hex[:6]}."
    env = {
        **stack.env(),
        "DEALSTREAM_TOPIC_PREFIX": prefix,
        "DEALSTREAM_APP_ID": f"{prefix}dealstream",
        "DEALSTREAM_PARTITIONS": "4",
        "DEALSTREAM_DATA_DIR": str(workdir / "data"),
        "DEALSTREAM_LOG_LEVEL": "warning",
        **extra,
    }
    asyncio.run(create_topics(Settings.from_env(env)))
    return env


@contextmanager
def worker(
    env: dict[str, str],
    log: Path,
    ready_within: float = 90,
    waiting: Callable[[int], None] | None = None,
) -> Iterator[int]:
    """A worker process, ready; yields the port of its HTTP endpoints. `waiting(port)` is
    called at each poll until it is ready."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            tied([sys.executable, "-m", "workers.cli.main", "worker"]),
            env={**os.environ, **env, "DEALSTREAM_WEB_PORT": str(port)},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + ready_within
        while not _ready(port):
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready after {ready_within:.0f} s; see {log}")
            if waiting is not None:
                waiting(port)
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False
