"""A killed test run leaves no server behind (issue 14.6): the servers and workers a pytest
session starts die with it, whether it gets SIGTERM (a CI time-out, a closed terminal) or
SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.devstack import processes

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie waits for its reaper: it is gone
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_pytest_leaves_no_server_running(tmp_path: Path, sig: signal.Signals) -> None:
    pid_file = tmp_path / "pids"
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/integration/probe_orphans.py"],
        cwd=ROOT, env={**os.environ, "DEALSTREAM_PROBE_PIDS": str(pid_file)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (pid_file.exists() and pid_file.read_text()):
            assert inner.poll() is None, "the probe run ended before it started its servers"
            assert time.monotonic() < deadline, "the probe run did not start its servers"
            time.sleep(0.2)
        pids = [int(p) for p in pid_file.read_text().split()]
        assert all(alive(p) for p in pids)
        inner.send_signal(sig)
        inner.wait(30)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in pids if alive(p)]
        assert not left, f"still running after {sig.name}: {left}"
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait(10)
        for pid in [int(p) for p in pid_file.read_text().split()] if pid_file.exists() else []:
            if alive(pid):
                processes.kill(pid)
