"""Goal (issue 3): 1,000,000 open opportunities per worker — resident memory per opportunity
and the cost of one tick.

In-process, with the worker's own pieces: the opportunity state as the agent stores it
(JSON in a rocksdict database, as Faust's rocksdict store does) and the due index the
tick agent keeps in memory. A tick pops what is due, evaluates it and prepares the firing
records (Kafka delivery is measured end to end by triggers_lateness.py).

    python -m benchmarks.triggers_scale [--count 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Rdict

from benchmarks.results import write_section
from schemas.records import OpportunityUpserted
from workers.opportunity.state import apply_event, from_table, to_table
from workers.rules.loader import parse_rules
from workers.triggers.due_index import DueIndex
from workers.triggers.evaluate import evaluate, next_due
from workers.triggers.firing import make_firing
from workers.triggers.plan import TriggerSet

RULES = """
version: bench
triggers:
  - {id: remind, stage: proposal, every: 10d, action: {type: enroll_campaign, campaign_id: r}}
  - {id: nudge, stage: proposal, every: 3d, catch_up: all, action: {type: enroll_campaign, campaign_id: n}}
  - {id: stuck, stage: meeting, every: 14d, action: {type: move_stage, to: nurture}}
"""
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.count
    triggers = TriggerSet.from_rules(parse_rules(RULES).triggers)
    folder = Path(tempfile.mkdtemp(prefix="ds-bench-"))
    db = Rdict(str(folder / "opportunities"))
    gc.collect()
    before = rss_mib()
    index = DueIndex()
    start = time.perf_counter()
    for i in range(n):
        key = f"opp-{i:07d}"
        entered = T0 + dt.timedelta(seconds=i % 86400)
        event = OpportunityUpserted(
            event_id=f"e-{i}",
            occurred_at=entered,
            opportunity_id=key,
            contact_id=f"c-{i}",
            pipeline_id="sales",
            stage_id="proposal" if i % 3 else "meeting",
            status="open",
            amount=float(i % 5000),
            owner_id=f"rep-{i % 40}",
        )
        state = apply_event(None, event, i % 8)
        assert state is not None
        db[orjson.dumps(key)] = orjson.dumps(to_table(state))
        index.set(key, next_due(state, triggers))
    load_s = time.perf_counter() - start
    gc.collect()
    after = rss_mib()
    per_opp = (after - before) * 2**20 / n

    # A tick with nothing due: the common case, many times a second.
    now = T0 + dt.timedelta(days=1)
    samples = []
    for _ in range(2000):
        t = time.perf_counter()
        index.pop_due(now.timestamp())
        samples.append(time.perf_counter() - t)
    idle_us = statistics.median(samples) * 1e6

    # A tick where 10,000 opportunities fall due: pop, read state, evaluate, build firings.
    due_time = T0 + dt.timedelta(days=3, seconds=10_000 // 3 * 3)
    t = time.perf_counter()
    keys = index.pop_due(due_time.timestamp(), limit=10_000)
    fired = 0
    for key in keys:
        state = from_table(orjson.loads(db[orjson.dumps(key)]))
        assert state is not None
        result = evaluate(state, triggers, due_time, 60.0)
        records = [make_firing(tr, result.state, due, due_time) for tr, due in result.firings]
        fired += len(records)
        db[orjson.dumps(key)] = orjson.dumps(to_table(result.state))
        index.set(key, result.next_due)
    busy_s = time.perf_counter() - t
    db.close()
    shutil.rmtree(folder, ignore_errors=True)

    write_section(
        "Time-in-stage triggers at scale (benchmarks/triggers_scale.py)",
        f"""
| measure | value |
| --- | --- |
| open opportunities | {n:,} (3 triggers, 2 stages) |
| load (apply event, store state, schedule) | {load_s:.1f} s ({n / load_s:,.0f} /s) |
| resident memory added | {after - before:,.0f} MiB |
| **resident memory per opportunity** | **{per_opp:,.0f} bytes** (due index in memory; state in rocksdict, its block cache included) |
| **one tick, nothing due** (median of 2,000) | **{idle_us:.1f} µs** — independent of the number of opportunities |
| one tick with {len(keys):,} due | {busy_s * 1000:,.0f} ms ({fired:,} firings prepared, {busy_s / max(len(keys), 1) * 1e6:.0f} µs per opportunity) |
""",
    )


if __name__ == "__main__":
    main()
