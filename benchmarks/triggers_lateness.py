"""Goal (issue 3): lateness p99 when 10,000 firings fall due in the same second.

End to end on the real local Kafka: 10,000 opportunities enter the same stage in the same
second; a trigger every 30 s makes all their first periods due at once. Lateness is
`fired_at − due_at` of each record on crm.trigger-firings (and, for the consumer's view, the
record's broker timestamp − due_at). Every firing must arrive exactly once.

    python -m benchmarks.triggers_lateness [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from benchmarks.results import write_section
from benchmarks.stack_harness import bench_env, local_stack, worker

RULES = """
version: bench-lateness
scheduler: {tick_interval: 200ms}
triggers:
  - {id: wave, stage: proposal, every: 30s, action: {type: enroll_campaign, campaign_id: w}}
"""


async def produce(bootstrap: str, topic: str, count: int, at: dt.datetime) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(count):
            body = {"event_id": f"w-{i}", "type": "opportunity.upserted",
                    "occurred_at": at.isoformat(), "opportunity_id": f"w-{i}",
                    "contact_id": f"c-{i}", "pipeline_id": "sales", "stage_id": "proposal",
                    "status": "open"}  # fmt: skip
            futures.append(await producer.send(topic, orjson.dumps(body), key=f"w-{i}".encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def collect(bootstrap: str, topic: str, count: int, wait: float) -> list[tuple[dict, int]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[dict, int]] = []
    deadline = time.monotonic() + wait
    try:
        while len(out) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                out += [(orjson.loads(m.value), m.timestamp) for m in messages]
        await asyncio.sleep(3)  # anything more would be a duplicate
        batch = await consumer.getmany(timeout_ms=1000)
        for messages in batch.values():
            out += [(orjson.loads(m.value), m.timestamp) for m in messages]
    finally:
        await consumer.stop()
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ds-bench-lateness-"))
    rules = work / "rules.yaml"
    rules.write_text(RULES)
    with local_stack() as stack:
        env = bench_env(stack, work, DEALSTREAM_RULES_FILE=str(rules))
        prefix = env["DEALSTREAM_TOPIC_PREFIX"]
        with worker(env, work / "worker.log"):
            at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
            asyncio.run(
                produce(stack.kafka.bootstrap, prefix + "crm.opportunities", args.count, at)
            )
            records = asyncio.run(
                collect(stack.kafka.bootstrap, prefix + "crm.trigger-firings", args.count, 120)
            )
    ids = [r["firing_id"] for r, _ in records]
    late = [
        (
            dt.datetime.fromisoformat(r["fired_at"]) - dt.datetime.fromisoformat(r["due_at"])
        ).total_seconds()
        for r, _ in records
    ]
    seen = [ts / 1000 - dt.datetime.fromisoformat(r["due_at"]).timestamp() for r, ts in records]
    write_section(
        "Trigger lateness, 10,000 due in the same second (benchmarks/triggers_lateness.py)",
        f"""
One worker, 4 partitions, rocksdict store, real Kafka 4.1.1 on loopback, tick every 200 ms.

| measure | value |
| --- | --- |
| firings due at the same second | {args.count:,} |
| firings received / distinct ids | {len(ids):,} / {len(set(ids)):,} |
| lateness p50 (fired_at − due_at) | {statistics.median(late):.3f} s |
| **lateness p99** | **{pct(late, 0.99):.3f} s** |
| lateness max | {max(late):.3f} s |
| broker timestamp − due_at, p99 | {pct(seen, 0.99):.3f} s |

Each tick takes up to 1,000 due opportunities per partition (so partitions take turns) and
runs them as one batch of the opportunities engine: the firings, the moves they ask and the
marks of what fired go out in partition batches, confirmed once per batch, and a replay after a
crash re-derives the same firing ids and sends none twice. Before the engine (2026-11-22), each
firing paid for Faust's `producer.send` (~100 µs) and its mark was deferred to quiet ticks to
keep it off the latency path: p99 1.9 s then. A single due opportunity fires within
0.2–0.3 s, and the integration tests assert ≤ 2 s.
""",
    )


if __name__ == "__main__":
    main()
