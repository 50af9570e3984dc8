"""The real Apache Kafka broker, KRaft single node (broker + controller), run with the JDK.

The jars come from Maven Central through the machine's Maven (`deploy/local/kafka/pom.xml`)
into a cache folder that is not committed (`.cache/kafka/<version>/libs` by default).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workers.devstack import processes
from workers.devstack.errors import DevStackError
from workers.devstack.secured import SecuredListener

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
LOG4J = REPO_ROOT / "deploy" / "local" / "kafka" / "log4j2.yaml"


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise DevStackError(f"{POM}: no <kafka.version> property")
    return match.group(1)


def cache_dir() -> Path:
    return Path(os.environ.get("DEALSTREAM_CACHE_DIR", REPO_ROOT / ".cache"))


def resolve_jars() -> Path:
    """Resolve the broker's jars with Maven once; return the folder that holds them."""
    libs = cache_dir() / "kafka" / kafka_version() / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevStackError("Maven (mvn) is not on PATH: install it (apt-get install maven)")
    libs.mkdir(parents=True, exist_ok=True)
    argv = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DevStackError(f"Maven could not resolve Kafka:\n{result.stdout[-2000:]}")
    marker.write_text(kafka_version())
    return libs


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise DevStackError("no JDK found: install one (apt-get install openjdk-17-jre-headless)")
    return java


@dataclass
class KafkaBroker:
    """One KRaft node. `start()` formats storage on first start; `stop()` leaves no process."""

    workdir: Path
    port: int = field(default_factory=processes.free_port)
    controller_port: int = field(default_factory=processes.free_port)
    heap: str = "768m"
    pid: int | None = None
    detached: bool = False  # True: outlives the process that starts it (`dev up`)
    secured: SecuredListener | None = None  # a SASL_SSL listener beside PLAINTEXT (tests)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "kafka.log"

    def start(self, timeout: float = 60.0) -> None:
        libs = resolve_jars()
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        classpath = f"{libs}/*"
        data = self.workdir / "data"
        if not (data / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            argv = [
                _java(),
                "-cp",
                classpath,
                f"-Dlog4j2.configurationFile={LOG4J}",
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",  # one "=" word: an id may begin with "-"
                "-c",
                str(config),
                *(self.secured.format_arguments() if self.secured else []),
            ]
            out = subprocess.run(argv, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise DevStackError(f"formatting Kafka storage failed:\n{out.stdout}{out.stderr}")
        argv = [
            _java(),
            f"-Xmx{self.heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        self.pid = processes.spawn(argv, self.log_file, self.workdir, detached=self.detached)
        processes.wait_until(
            self.answers, timeout=timeout, what="Kafka", pid=self.pid, log_file=self.log_file
        )

    def stop(self) -> None:
        if self.pid is not None:
            processes.stop(self.pid)
            self.pid = None

    def kill(self) -> None:
        if self.pid is not None:
            processes.kill(self.pid)
            self.pid = None

    def answers(self) -> bool:
        """Ready means a metadata request answers (after the port accepts connections)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return asyncio.run(_metadata_answers(self.bootstrap))

    def _write_config(self) -> Path:
        path = self.workdir / "server.properties"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
            "log.cleaner.backoff.ms": "5000",
            "message.max.bytes": "2097152",
        }
        if self.secured is not None:
            sasl = f"SASL_SSL://127.0.0.1:{self.secured.port}"
            props["listeners"] += f",{sasl}"
            props["advertised.listeners"] += f",{sasl}"
            props["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
            props |= self.secured.properties(self.workdir)
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path


async def _metadata_answers(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await client.start()
        await client.list_topics()
    except Exception:
        return False
    finally:
        await client.close()
    return True
