"""Goal (issue 15): the scoring benchmark's measure for the other features, end to end through
Kafka with one worker process (4 partitions, rocksdict): opportunity events per second
(time-in-stage triggers, pipeline books, owner links) and sales-ready signals per second
through the router (each one decided: assigned to a rep).

    python -m benchmarks.feature_throughput [--opportunities 40000] [--signals 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from benchmarks.results import write_section
from benchmarks.stack_harness import bench_env, local_stack, worker

RULES = """
version: bench-features
triggers:
  - {id: remind, stage: proposal, every: 10d, action: {type: enroll_campaign, campaign_id: r}}
  - {id: stuck, stage: meeting, every: 14d, action: {type: move_stage, to: nurture}}
routing:
  default: {policy: round_robin, ignore_hours: true, sla: null}
notifications: {sla_warning_before: null}
"""
STAGES = ("qualification", "meeting", "proposal", "negotiation")


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=262144)
    await producer.start()
    try:
        futures = [await producer.send(t, v, key=k) for t, k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def opportunity_events(prefix: str, count: int, at: dt.datetime) -> list[tuple[str, bytes, bytes]]:
    """`count` upserts over count/4 opportunities, each walking through the stages."""
    out = []
    for i in range(count):
        opportunity = f"o-{i % (count // 4)}"
        body = {"event_id": f"oe-{i}", "type": "opportunity.upserted",
                "occurred_at": (at + dt.timedelta(milliseconds=i)).isoformat(),
                "opportunity_id": opportunity, "contact_id": f"c-{i % (count // 4)}",
                "pipeline_id": "sales", "stage_id": STAGES[(i // (count // 4)) % len(STAGES)],
                "status": "open", "amount": 1000.0}  # fmt: skip
        out.append((prefix + "crm.opportunities", opportunity.encode(), orjson.dumps(body)))
    return out


def signals(prefix: str, count: int, at: dt.datetime) -> list[tuple[str, bytes, bytes]]:
    """Three active reps, then `count` contacts entering sales-ready (no owner yet)."""
    out = []
    for r in range(3):
        body = {"event_id": f"rep-{r}", "type": "rep.upserted", "occurred_at": at.isoformat(),
                "rep_id": f"r{r}", "product_lines": ["general"], "active": True}  # fmt: skip
        out.append((prefix + "crm.reps", f"r{r}".encode(), orjson.dumps(body)))
    for i in range(count):
        contact = f"c-{i}"
        body = {"signal_id": f"ready:{contact}:1", "contact_id": contact, "owner_id": None,
                "product_line": None, "product_lines": [], "total": 75.0, "stars": 4,
                "breakdown": [["demo", 75.0]], "event_id": f"e-{i}",
                "emitted_at": at.isoformat()}  # fmt: skip
        out.append((prefix + "dealstream.sales-ready", contact.encode(), orjson.dumps(body)))
    return out


def metric(port: int, name: str, label: str = "") -> float:
    """The sum of a counter's samples (whose labels contain `label`)."""
    total = 0.0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name) and label in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def drain_rate(port: int, name: str, label: str, expect: int, within: float = 600) -> float:
    """Per second, from the first counted to the `expect`-th (a backlog already in Kafka)."""
    deadline = time.monotonic() + within
    while (first := metric(port, name, label)) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing counted on {name}")
        time.sleep(0.05)
    start = time.perf_counter()
    while (done := metric(port, name, label)) < expect:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{done:.0f} of {expect} on {name} after {within:.0f} s")
        time.sleep(0.1)
    return (done - first) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opportunities", type=int, default=40_000)
    parser.add_argument("--signals", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ds-bench-features-"))
    (work / "rules.yaml").write_text(RULES)
    at = dt.datetime.now(dt.UTC)
    with local_stack() as stack:
        env = bench_env(stack, work, DEALSTREAM_RULES_FILE=str(work / "rules.yaml"))
        prefix, boot = env["DEALSTREAM_TOPIC_PREFIX"], stack.kafka.bootstrap
        ready = signals(prefix, args.signals, at)
        asyncio.run(produce(boot, opportunity_events(prefix, args.opportunities, at) + ready[:3]))
        with worker(env, work / "worker.log") as port:
            opportunities = drain_rate(
                port, "dealstream_events_valid_total", "crm.opportunities", args.opportunities
            )
            asyncio.run(produce(boot, ready[3:]))  # the reps came with the opportunities
            decided = drain_rate(port, "dealstream_lead_assignments_total", "", args.signals)
    write_section(
        "Triggers and router throughput (benchmarks/feature_throughput.py)",
        f"""
One worker process, 4 partitions, rocksdict store, real Kafka 4.1.1 on loopback, the
opportunity events already in Kafka when the worker starts, the signals sent once they are
processed (each rate counts from the first event processed):

| measure | value |
| --- | --- |
| opportunity events ({args.opportunities:,} upserts of {args.opportunities // 4:,} opportunities walking 4 stages; time-in-stage schedules, pipeline books, contact links) | **{opportunities:,.0f} events/s** |
| sales-ready signals decided by the router ({args.signals:,} new contacts, 3 reps, round robin) | **{decided:,.0f} signals/s** |

Opportunity events run on the opportunities engine (whole polls, one batch per poll). The
router decides on one partition, because its state is one roster and one set of queues; the
engine forwards the signals there from `dealstream.sales-ready`, and the router's own engine
decides and publishes them in batches.
""",
    )


if __name__ == "__main__":
    main()
