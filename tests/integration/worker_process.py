"""A `dealstream worker` in a child process, as ops would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from workers.devstack.processes import free_port, tied


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log_file: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: float = 60.0) -> WorkerProcess:
        env = {
            **os.environ,
            # RuntimeWarnings (a coroutine never awaited) are errors in the worker's tests
            "PYTHONWARNINGS": "error::RuntimeWarning",
            **self.env,
            "DEALSTREAM_WEB_PORT": str(self.port),
        }
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                tied([sys.executable, "-m", "workers.cli.main", "worker"]),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait_ready:
            self.wait_ready(wait_ready)
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(
                    f"worker exited ({self.proc and self.proc.returncode}):\n{self.tail()}"
                )
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        _, body = self.get("/metrics")
        want = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        )
        for line in body.decode().splitlines():
            if line.startswith(want + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def assert_no_runtime_warning(self) -> None:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        assert "RuntimeWarning" not in text, f"{self.log_file}: a RuntimeWarning\n{self.tail()}"

    def tail(self, lines: int = 40) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
