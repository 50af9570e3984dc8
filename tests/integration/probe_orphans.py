"""Not collected by itself: `test_no_orphans.py` runs it in a pytest of its own and kills that
pytest. It starts what a test session starts (Kafka, Redis, a worker), writes their pids, and
waits to be killed."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack

PIDS = os.environ.get("DEALSTREAM_PROBE_PIDS")


@pytest.mark.skipif(not PIDS, reason="run by test_no_orphans.py only")
@pytest.mark.timeout(0)
def test_start_everything_and_wait_to_be_killed(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    worker = WorkerProcess(worker_env, tmp_path / "w.log")
    workers.append(worker.start(wait_ready=0))  # no need to wait: it only has to exist
    assert worker.proc is not None
    pids = [stack.kafka.pid, stack.redis.pid, worker.proc.pid]
    Path(str(PIDS)).write_text(" ".join(str(p) for p in pids))
    time.sleep(600)  # this test is about being killed while it runs
