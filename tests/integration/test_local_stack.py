"""The local stack commands, topic creation and worker start-up, against the real servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from workers.devstack import LocalStack
from workers.devstack.processes import alive
from workers.settings import Settings
from workers.topics.admin import create_topics
from workers.topics.plan import planned_topics


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dev_up_prints_addresses_and_dev_down_leaves_no_process(tmp_path: Path) -> None:
    workdir = tmp_path / "devstack"
    up = cli("dev", "up", "--dir", str(workdir))
    assert up.returncode == 0, up.stderr
    assert "Kafka bootstrap: 127.0.0.1:" in up.stdout
    assert "Redis URL:       redis://127.0.0.1:" in up.stdout
    stack = LocalStack.load(workdir)
    assert stack is not None
    assert stack.running()
    pids = [stack.kafka.pid, stack.redis.pid]
    assert cli("dev", "status", "--dir", str(workdir)).returncode == 0
    down = cli("dev", "down", "--dir", str(workdir))
    assert down.returncode == 0, down.stderr
    assert not any(alive(pid) for pid in pids if pid is not None)
    assert cli("dev", "status", "--dir", str(workdir)).returncode == 1


def test_topics_create_twice_is_harmless_and_reps_is_compacted(
    stack: LocalStack, worker_env: dict[str, str]
) -> None:
    first = cli("topics", "create", env=worker_env)
    assert first.returncode == 0, first.stderr
    second = cli("topics", "create", env=worker_env)
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stdout
    settings = Settings.from_env(worker_env)
    assert len(second.stdout.splitlines()) == len(planned_topics(settings))

    async def reps_policy() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
        await admin.start()
        try:
            resource = ConfigResource(ConfigResourceType.TOPIC, settings.topic("crm.reps"))
            response = await admin.describe_configs([resource])
            entries = response[0].resources[0][4]
            return next(str(e[1]) for e in entries if e[0] == "cleanup.policy")
        finally:
            await admin.close()

    assert asyncio.run(reps_policy()) == "compact"


def test_a_bad_rules_file_stops_start_up_with_one_clear_message(
    stack: LocalStack, worker_env: dict[str, str], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nsurprise: true\n")
    result = cli("worker", env={**worker_env, "DEALSTREAM_RULES_FILE": str(rules)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dealstream worker: {rules}: $.surprise = True: is not a known field"
    ]


def test_a_bad_setting_stops_start_up_naming_variable_and_value(worker_env: dict[str, str]) -> None:
    result = cli("worker", env={**worker_env, "DEALSTREAM_PARTITIONS": "lots"}, timeout=60)
    assert result.returncode == 2
    assert "DEALSTREAM_PARTITIONS='lots'" in result.stderr


def test_publish_validates_keys_and_reports_bad_lines(
    stack: LocalStack, worker_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.integration.kafka_io import consume

    settings = Settings.from_env(worker_env)
    asyncio.run(create_topics(settings))
    file = tmp_path / "events.jsonl"
    file.write_text(
        '{"event_id":"p1","type":"contact.upserted","occurred_at":"2026-11-02T09:00:00Z","contact_id":"c-9"}\n'
        '{"event_id":"p2","type":"contact.upserted","occurred_at":"not a time","contact_id":"c-9"}\n'
    )
    result = cli("publish", "crm.contacts", str(file), env=worker_env)
    assert result.returncode == 1
    assert "sent 1, rejected 1" in result.stdout
    assert "line 2: bad_timestamp" in result.stderr
    records = consume(stack.kafka.bootstrap, settings.topic("crm.contacts"), expect=1, timeout=20)
    assert [(m.key, m.value.startswith(b'{"event_id":"p1"')) for m in records] == [(b"c-9", True)]
