"""Kafka + Redis together, with a state file so `dev up` and `dev down` are separate commands."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workers.devstack import processes
from workers.devstack.errors import DevStackError
from workers.devstack.kafka_broker import KafkaBroker
from workers.devstack.redis_server import RedisServer


@dataclass
class LocalStack:
    workdir: Path
    kafka: KafkaBroker
    redis: RedisServer

    @classmethod
    def create(cls, workdir: Path, *, detached: bool = False) -> LocalStack:
        """Servers that die with this process, or (`detached`, for `dev up`) outlive it."""
        return cls(
            workdir,
            KafkaBroker(workdir / "kafka", detached=detached),
            RedisServer(workdir / "redis", detached=detached),
        )

    @property
    def state_file(self) -> Path:
        return self.workdir / "stack.json"

    def env(self) -> dict[str, str]:
        return {"DEALSTREAM_BROKERS": self.kafka.bootstrap, "DEALSTREAM_REDIS_URL": self.redis.url}

    def start(self) -> None:
        try:
            self.redis.start()
            self.kafka.start()
        except BaseException:
            self.stop()
            raise
        self._save()

    def stop(self) -> None:
        self.kafka.stop()
        self.redis.stop()
        self.state_file.unlink(missing_ok=True)

    def _save(self) -> None:
        state = {
            "kafka": {
                "pid": self.kafka.pid,
                "port": self.kafka.port,
                "controller_port": self.kafka.controller_port,
            },
            "redis": {"pid": self.redis.pid, "port": self.redis.port},
        }
        self.state_file.write_text(json.dumps(state, indent=2))
        (self.workdir / "env").write_text("".join(f"{k}={v}\n" for k, v in self.env().items()))

    @classmethod
    def load(cls, workdir: Path) -> LocalStack | None:
        """The stack a previous `dev up` started in `workdir`, if it is still running."""
        path = workdir / "stack.json"
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
            kafka = KafkaBroker(
                workdir / "kafka",
                port=state["kafka"]["port"],
                controller_port=state["kafka"]["controller_port"],
                pid=state["kafka"]["pid"],
            )
            redis = RedisServer(
                workdir / "redis", port=state["redis"]["port"], pid=state["redis"]["pid"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DevStackError(
                f"{path} is damaged ({exc}); remove it and stop the servers"
            ) from None
        return cls(workdir, kafka, redis)

    def running(self) -> bool:
        return all(
            pid is not None and processes.alive(pid) for pid in (self.kafka.pid, self.redis.pid)
        )
