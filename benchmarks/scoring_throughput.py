"""Goal (issues 4, 15): scoring events per second per worker process, end to end through Kafka,
and p99 event-to-score latency at a steady 2,000 events/s (goal: ≥ 10,000 events/s and
p99 ≤ 250 ms), with raw aiokafka consume + orjson decode measured in the same run.

    python -m benchmarks.scoring_throughput [--events 150000] [--rate 2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.faust_reference import measure
from benchmarks.results import write_section
from benchmarks.stack_harness import bench_env, local_stack, worker

RULES = """
version: bench-scoring
scoring:
  profile:
    contact:
      - {id: hot, field: lead_status, equals: Hot, points: 20}
  engagement:
    rules:
      - {id: view, kind: page_view, points: 1}
      - {id: demo, kind: demo_request, points: 25}
    decay: {kind: none}
  sales_ready: {threshold: 60, hysteresis: 10}
"""


def engagement(i: int, contacts: int, at: dt.datetime) -> tuple[bytes, bytes]:
    contact = f"c-{i % contacts}"
    body = {"event_id": f"e-{i}", "type": "engagement.recorded", "occurred_at": at.isoformat(),
            "contact_id": contact, "kind": "demo_request" if i % 50 == 0 else "page_view"}  # fmt: skip
    return contact.encode(), orjson.dumps(body)


async def preload(bootstrap: str, topic: str, events: int, contacts: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=262144)
    await producer.start()
    at = dt.datetime.now(dt.UTC)
    futures = []
    for i in range(events):
        key, value = engagement(i, contacts, at)
        futures.append(await producer.send(topic, value, key=key))
    await asyncio.gather(*futures)
    await producer.stop()


async def raw_reference(bootstrap: str, topic: str, events: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)  # fmt: skip
    await consumer.start()
    seen, start = 0, time.perf_counter()
    while seen < events:
        batch = await consumer.getmany(timeout_ms=1000, max_records=20000)
        for messages in batch.values():
            for m in messages:
                orjson.loads(m.value)
            seen += len(messages)
    elapsed = time.perf_counter() - start
    await consumer.stop()
    return events / elapsed


def processed(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('dealstream_events_valid_total{topic="crm.engagements"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def drain_rate(port: int, events: int) -> float:
    while processed(port) == 0:
        time.sleep(0.05)
    start, first = time.perf_counter(), processed(port)
    while (done := processed(port)) < events:
        time.sleep(0.25)
    return (done - first) / (time.perf_counter() - start)


async def steady(
    bootstrap: str, prefix: str, rate: int, seconds: int, contacts: int
) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    consumer = AIOKafkaConsumer(prefix + "crm.lead-scores", bootstrap_servers=bootstrap,
                                auto_offset_reset="latest")  # fmt: skip
    await producer.start()
    await consumer.start()
    await asyncio.sleep(2)  # let the consumer settle at the end of the topic
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for messages in batch.values():
                for m in messages:
                    event_id = orjson.loads(m.value).get("event_id")
                    if event_id in sent:
                        latencies.append(now - sent.pop(event_id))

    reader = asyncio.create_task(read())
    start = time.perf_counter()
    base = 10_000_000 + rate * 1000
    for i in range(rate * seconds):
        target = start + i / rate
        if (delay := target - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        key, value = engagement(base + i, contacts, dt.datetime.now(dt.UTC))
        sent[f"e-{base + i}"] = time.time()
        await producer.send(prefix + "crm.engagements", value, key=key)
    await asyncio.sleep(5)
    reader.cancel()
    await producer.stop()
    await consumer.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ds-bench-scoring-"))
    (work / "rules.yaml").write_text(RULES)
    with local_stack() as stack:
        env = bench_env(stack, work, DEALSTREAM_RULES_FILE=str(work / "rules.yaml"))
        prefix, boot = env["DEALSTREAM_TOPIC_PREFIX"], stack.kafka.bootstrap
        asyncio.run(preload(boot, prefix + "crm.engagements", args.events, args.contacts))
        raw = asyncio.run(raw_reference(boot, prefix + "crm.engagements", args.events))
        bare = measure(boot, prefix + "crm.engagements", args.events, "bare", work)
        table = measure(boot, prefix + "crm.engagements", args.events, "table", work)
        with worker(env, work / "worker.log") as port:
            rate = drain_rate(port, args.events)
            latencies = asyncio.run(steady(boot, prefix, args.rate, args.seconds, args.contacts))
            time.sleep(5)
            while processed(port) < args.events + args.rate * args.seconds:  # drain the backlog
                time.sleep(0.5)
            low = max(1, int(rate * 0.5))
            light = asyncio.run(steady(boot, prefix, low, args.seconds, args.contacts))
    q = statistics.quantiles(latencies, n=100)
    ql = statistics.quantiles(light, n=100)
    write_section(
        "Lead scoring throughput and latency (benchmarks/scoring_throughput.py)",
        f"""
One worker process, 4 partitions, rocksdict store, real Kafka 4.1.1 on loopback; every
engagement changes its contact's score (no caps, no decay), so each event gives one output
(its score) and one dedupe-window write, and the contact's state is written once per batch.

| measure | value | goal |
| --- | --- | --- |
| reference: raw aiokafka consume + orjson decode | {raw:,.0f} events/s | |
| reference: bare Faust agent (orjson decode, nothing else) | {bare:,.0f} events/s | |
| reference: bare Faust agent + one rocksdict table write per event | {table:,.0f} events/s | |
| **scoring, end to end through Kafka** ({args.events:,} events, {args.contacts:,} contacts) | **{rate:,.0f} events/s** | ≥ 10,000 |
| steady load | {args.rate:,} events/s for {args.seconds} s | |
| scores matched | {len(latencies):,} of {args.rate * args.seconds:,} | |
| event → score latency p50 | {q[49] * 1000:.0f} ms | |
| **event → score latency p99** | **{q[98] * 1000:.0f} ms** | ≤ 250 ms |
| below capacity: steady {low:,} events/s, p50 / p99 | {ql[49] * 1000:.0f} ms / {ql[98] * 1000:.0f} ms | |

Scoring runs on the state engine (docs/design.md): each poll is one batch, the core runs per
event, each touched key is written once, outputs and changelog go out in partition batches and
are confirmed once per batch before the offsets are acknowledged. The Faust references above are
one event at a time, as every agent was before the engine. The steady loads come from a
generator on the same 2 cores that sends one produce request per event: at half the drain rate
it takes a share of the CPU the worker needs, and the worker falls behind (the last row), so
the sustained rate with a live producer here lies between 2,000 and that half.
""",
    )


if __name__ == "__main__":
    main()
