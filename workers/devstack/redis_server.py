"""Redis from Debian's `redis-server`, on a free loopback port, persistence off."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

from workers.devstack import processes
from workers.devstack.errors import DevStackError


@dataclass
class RedisServer:
    workdir: Path
    port: int = field(default_factory=processes.free_port)
    pid: int | None = None
    detached: bool = False  # True: outlives the process that starts it (`dev up`)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.workdir / "redis.log"

    def start(self, timeout: float = 15.0) -> None:
        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        if binary is None:
            raise DevStackError("redis-server not found: install it (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
            "--protected-mode",
            "yes",
        ]
        self.pid = processes.spawn(argv, self.log_file, self.workdir, detached=self.detached)
        processes.wait_until(
            self.answers, timeout=timeout, what="Redis", pid=self.pid, log_file=self.log_file
        )

    def stop(self) -> None:
        if self.pid is not None:
            processes.stop(self.pid, timeout=10)
            self.pid = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
