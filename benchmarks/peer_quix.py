"""The peer users would pick instead (issue 15): the same simple job on Quix Streams and on
dealstream's engine, same broker, same run.

The job: a running total per contact in state with a changelog, and one output per event
(300,000 events, 5,000 contacts, 4 partitions). Quix Streams runs at-least-once in a virtualenv
of its own (`var/bench-quix`, made on first use from PyPI: it is a benchmark-only
dependency). The engine runs in a Faust worker with one engine agent (the same code as
`dealstream worker`'s agents). Each job reads the same input topic with its own consumer group
and writes its own output topic. The rate is the number of outputs over the time from the arrival of
the first output to the last at a reader of the output topic (Quix keeps each input's
timestamp on its outputs, so broker timestamps cannot be used). Changelog records are counted on the changelog
topics, and the record batches of both topics in the broker's log segments.

    python -m benchmarks.peer_quix [--events 300000] [--contacts 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from benchmarks.results import write_section
from benchmarks.stack_harness import local_stack
from workers.devstack.kafka_broker import resolve_jars
from workers.devstack.processes import tied

ROOT = Path(__file__).resolve().parent.parent
QUIX_VENV = ROOT / "var" / "bench-quix"
QUIX_VERSION = "3.28.0"
PARTITIONS = 4

QUIX_JOB = """
import os, sys
from quixstreams import Application
app = Application(
    broker_address=os.environ["BOOT"], consumer_group="peer-quix",
    auto_offset_reset="earliest", processing_guarantee="at-least-once",
    state_dir=os.environ["STATE"], commit_interval=5.0,
)
source = app.topic("peer-in", value_deserializer="json")
sink = app.topic("peer-out-quix", value_serializer="json")
sdf = app.dataframe(source)

def add(value, state):
    total = state.get("total", 0) + value["amount"]
    state.set("total", total)
    return {"contact_id": value["contact_id"], "total": total}

sdf = sdf.apply(add, stateful=True)
sdf.to_topic(sink)
app.run()
"""


def quix_python() -> Path:
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"],
                       check=True)  # fmt: skip
    return python


async def setup(boot: str, events: int, contacts: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=boot)
    await admin.start()
    await admin.create_topics(
        [NewTopic(t, PARTITIONS, 1) for t in ("peer-in", "peer-out-quix", "peer-out-engine")]
    )
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=boot, linger_ms=20, max_batch_size=262144)
    await producer.start()
    futures = []
    for i in range(events):
        contact = f"c-{i % contacts}"
        body = orjson.dumps({"contact_id": contact, "amount": 1, "event_id": f"e-{i}"})
        futures.append(await producer.send("peer-in", body, key=contact.encode()))
    await asyncio.gather(*futures)
    await producer.stop()


async def output_rate(
    boot: str,
    topic: str,
    events: int,
    within: float,
    launch: Callable[[], subprocess.Popen[bytes]],
) -> float:
    """Outputs per second between the arrival of the first output and of the `events`-th."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=boot, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    await consumer.getmany(timeout_ms=500)  # assigned and at the start before the job begins
    job = launch()
    seen, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + within
    try:
        while seen < events:
            if job.poll() is not None:
                raise RuntimeError(f"{topic}: the job exited ({job.returncode}); see its log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic}: {seen} of {events} outputs after {within:.0f} s")
            batch = await consumer.getmany(timeout_ms=200)
            arrived = sum(len(messages) for messages in batch.values())
            if arrived:
                now = time.perf_counter()
                first = first or now
                last = now
                seen += arrived
    finally:
        job.terminate()
        job.wait(60)
        await consumer.stop()
    # arrival time at the reader: Quix keeps each input's timestamp on its outputs
    return (events - 1) / max(0.001, last - first)


async def records_in(boot: str, pattern: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=boot)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if re.search(pattern, t)]
        await consumer._client.set_topics(topics)
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0
    finally:
        await consumer.stop()


def batches_in(stack_dir: Path, pattern: str) -> int:
    """Record batches of the topics matching `pattern` in the broker's log segments."""
    jars = resolve_jars()
    count = 0
    for segment in stack_dir.rglob("*.log"):
        if not re.search(pattern, segment.parent.name):
            continue
        dump = subprocess.run(
            ["java", "-cp", f"{jars}/*", "kafka.tools.DumpLogSegments", "--files", str(segment)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        count += sum(1 for line in dump.stdout.splitlines() if line.startswith("baseOffset:"))
    return count


def run_job(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(tied(command), env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip


def one_run(work: Path, python: Path, events: int, contacts: int) -> dict[str, Any]:
    """Both jobs on a fresh stack: their rates, changelog records and record batches."""
    with local_stack() as stack:
        boot = stack.kafka.bootstrap
        asyncio.run(setup(boot, events, contacts))
        rates = {}
        for job, command, env in (
            ("quix", [str(python), str(work / "quix_job.py")],
             {"BOOT": boot, "STATE": str(work / f"quix-state-{time.time_ns()}")}),
            ("engine", [sys.executable, "-m", "benchmarks.peer_engine"],
             {"BOOT": boot, "STATE": str(work / f"engine-state-{time.time_ns()}")}),
        ):  # fmt: skip
            topic = f"peer-out-{job}"

            def launch(
                command: list[str] = command, env: dict[str, str] = env, topic: str = topic
            ) -> subprocess.Popen[bytes]:
                return run_job(command, env, work / f"{topic}.log")

            rates[job] = asyncio.run(output_rate(boot, topic, events, 600, launch))
        return {
            "rates": rates,
            "changelog": {
                "quix": asyncio.run(records_in(boot, r"^changelog__peer-quix")),
                "engine": asyncio.run(records_in(boot, r"^peer-engine-totals-changelog$")),
            },
            "batches": {
                "quix": (batches_in(stack.workdir, r"^peer-out-quix-\d+$"),
                         batches_in(stack.workdir, r"^changelog__peer-quix")),
                "engine": (batches_in(stack.workdir, r"^peer-out-engine-\d+$"),
                           batches_in(stack.workdir, r"^peer-engine-totals-changelog-\d+$")),
            },
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ds-bench-peer-"))
    python = quix_python()
    (work / "quix_job.py").write_text(QUIX_JOB)
    runs = [one_run(work, python, args.events, args.contacts) for _ in range(args.runs)]
    quix = [r["rates"]["quix"] for r in runs]
    engine = [r["rates"]["engine"] for r in runs]
    ratios = [e / q for e, q in zip(engine, quix, strict=True)]
    last = runs[-1]
    changelog, batches = last["changelog"], last["batches"]
    each = ", ".join(f"{r:.2f}×" for r in ratios)
    write_section(
        "Peer: Quix Streams and the engine on the same job (benchmarks/peer_quix.py)",
        f"""
Same broker (real Kafka 4.1.1 on loopback), the same input topic ({args.events:,} events,
{args.contacts:,} contacts, {PARTITIONS} partitions); a running total per contact in state with
a changelog, one output per event. {args.runs} runs, each on a fresh stack with both jobs one
after the other; outputs/s are medians over the runs, record counts are the last run's.

| job | outputs/s (median) | range | output batches | changelog records | changelog batches |
| --- | --- | --- | --- | --- | --- |
| Quix Streams {QUIX_VERSION}, at-least-once | {statistics.median(quix):,.0f} | {min(quix):,.0f}–{max(quix):,.0f} | {batches["quix"][0]:,} | {changelog["quix"]:,} | {batches["quix"][1]:,} |
| dealstream engine, one Faust worker | {statistics.median(engine):,.0f} | {min(engine):,.0f}–{max(engine):,.0f} | {batches["engine"][0]:,} | {changelog["engine"]:,} | {batches["engine"][1]:,} |

**The engine: {statistics.median(ratios):.2f}× Quix Streams, median of the runs' ratios**
(goal ≥ 1.5×; each run: {each}). Quix writes one changelog record per changed key per commit
(every 5 s); the engine writes one per changed key per batch, and confirms outputs, changelog
and checkpoint before acknowledging the batch's offsets.
""",
    )


if __name__ == "__main__":
    main()
