"""A worker killed (SIGKILL) in the middle of restoring its tables, and started again on the
same store, ends with every table value equal to the changelog's last value for its key: no
key lost, none stale, none deleted and back (issue 18).

The changelogs are written straight to the broker, as Faust writes them (JSON keys and values,
tombstones for deletes), with keys overwritten and deleted along the way. The restart must
resume from where the killed restore stopped, not from the beginning.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any, cast

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rocksdict import AccessType, Options, Rdict

from tests.integration.waits import eventually
from tests.integration.worker_process import WorkerProcess
from workers.settings import Settings
from workers.topics.admin import create_topics

PARTITIONS = 4
TABLES = ("contacts", "opportunity-contacts")
KEYS = 40_000
RECORDS = 300_000  # per table; a restore of both takes a few seconds here
OFFSET_KEY = b"__faust\0offset__"

Changelog = dict[int, list[tuple[bytes, bytes | None]]]  # partition -> (key, value) in order


def changelog(table: str, seed: int) -> Changelog:
    """Writes, overwrites and deletes of KEYS keys; values no agent reads as a state."""
    rng = random.Random(seed)
    out: Changelog = {p: [] for p in range(PARTITIONS)}
    for i in range(RECORDS):
        n = rng.randrange(KEYS)
        key = orjson.dumps(f"{table[0]}-{n}")
        value = None if rng.random() < 0.1 else orjson.dumps({"n": n, "write": i, "partition": -1})
        out[n % PARTITIONS].append((key, value))
    return out


def last_values(log: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    expected: dict[bytes, bytes] = {}
    for key, value in log:
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    return expected


async def write_changelogs(env: dict[str, str], logs: dict[str, Changelog]) -> None:
    app_id = env["DEALSTREAM_APP_ID"]
    admin = AIOKafkaAdminClient(bootstrap_servers=env["DEALSTREAM_BROKERS"])
    await admin.start()
    try:
        await admin.create_topics([
            NewTopic(f"{app_id}-{table}-changelog", PARTITIONS, 1,
                     topic_configs={"cleanup.policy": "compact"})
            for table in logs
        ])  # fmt: skip
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=env["DEALSTREAM_BROKERS"], linger_ms=20,
                                max_batch_size=1 << 20, acks="all")  # fmt: skip
    await producer.start()
    try:
        for table, by_partition in logs.items():
            for partition, records in by_partition.items():
                pending = [
                    await producer.send(
                        f"{app_id}-{table}-changelog", value, key=key, partition=partition
                    )
                    for key, value in records
                ]
                await asyncio.gather(*pending)
    finally:
        await producer.stop()


def stored(data_dir: Path, table: str, partition: int) -> tuple[dict[bytes, bytes], int | None]:
    [path] = data_dir.rglob(f"tables/{table}-{partition}.db")
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        items = {cast(bytes, k): cast(bytes, v) for k, v in db.items()}
    finally:
        db.close()
    offset = items.pop(OFFSET_KEY, None)
    return items, None if offset is None else int(offset)


def restore_progress(worker: WorkerProcess) -> dict[str, Any] | None:
    try:
        status, body = worker.get("/readyz")
    except OSError:
        return None
    return orjson.loads(body).get("restoring") if status == 503 else None


def test_a_worker_killed_mid_restore_resumes_and_ends_with_the_last_value_of_every_key(
    worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env = {**worker_env, "DEALSTREAM_STORE": "rocksdict"}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    logs = {table: changelog(table, seed) for seed, table in enumerate(TABLES)}
    asyncio.run(write_changelogs(env, logs))
    total = sum(len(records) for log in logs.values() for records in log.values())

    first = WorkerProcess(env, tmp_path / "worker-1.log").start(wait_ready=0)
    workers.append(first)
    seen: list[dict[str, Any]] = []

    def restoring_midway() -> bool:
        progress = restore_progress(first)
        if progress is not None and 0 < progress["remaining_records"] < total * 0.8:
            seen.append(progress)
            return True
        return False

    eventually(restoring_midway, "a restore under way", timeout=90, every=0.02)
    first.kill()
    assert seen[0]["records_per_second"] > 0, seen
    data_dir = Path(env["DEALSTREAM_DATA_DIR"])
    partial = {
        (table, p): stored(data_dir, table, p)[1] for table in TABLES for p in range(PARTITIONS)
    }
    ends = {(t, p): len(logs[t][p]) - 1 for t in TABLES for p in range(PARTITIONS)}
    assert any(offset is None or offset < ends[tp] for tp, offset in partial.items()), (
        "the kill came after the restore had finished"
    )

    second = WorkerProcess(env, tmp_path / "worker-2.log").start(wait_ready=120)
    workers.append(second)
    assert second.terminate() == 0
    restored = [
        int(m.group(1))
        for m in re.finditer(r"restored (\d+) changelog records", second.log_file.read_text())
    ]
    assert restored, second.tail()
    assert sum(restored) < total, "the restart replayed the changelog from the start"
    for table in TABLES:
        for p in range(PARTITIONS):
            items, offset = stored(data_dir, table, p)
            assert offset == ends[(table, p)], (table, p)
            expected = last_values(logs[table][p])
            missing = expected.keys() - items.keys()
            extra = items.keys() - expected.keys()
            stale = [k for k in expected.keys() & items.keys() if items[k] != expected[k]]
            assert not missing, (table, p, len(missing), sorted(missing)[:5])
            assert not extra, (table, p, len(extra), sorted(extra)[:5])
            assert not stale, (table, p, len(stale), sorted(stale)[:5])
