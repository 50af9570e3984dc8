"""What a backtest's replay costs beyond the features' own work: the floor.

Engagements (nine events in ten of a month) go through the features' core calls alone, on the
state a replay of the events before them left: decoded, deduplicated, the contact engaged and
re-scored (`Scorer.engage`), its score handed to the tally's sink, its due time indexed, and a
buyer action made, applied and decided for each open opportunity of the contact (its triggers
re-scheduled where one counts from the last engagement). No engine, transaction, step, internal
topic or tick: what is left of an event's cost when the runtime costs nothing. Timed by stage,
each in a process of its own started as the backtest starts its replay processes (jemalloc
with huge pages, workers/backtest/allocator.py), beside the replay itself over the same events.
For measuring only: the floor's calls are those the workers' handlers make, in their order, but
not the handlers themselves (`docs/design.md`, "The features' floor").

    python -m benchmarks.replay_floor [--shape full-month] [--start 1000000] [--stop 1100000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import backtest_replay as bench
from schemas.records import EngagementRecorded
from workers.automation.stage_moves import BuyerAction
from workers.backtest.replay import Replay, Window
from workers.engine.records import Record
from workers.ingest.decoder import Decoded
from workers.ingest.dedupe import Seen, remember
from workers.ingest.partitioning import expected_partition
from workers.opportunity.state import apply_activity
from workers.runtime.pacing import replay_collector
from workers.scoring.contact import new_state
from workers.scoring.published import score_json
from workers.settings import Settings

STAGES = ("decode", "dedupe", "engage", "forward", "publish")  # each adds to the one before


def _replay(records: list[tuple[int, Record]], settings: Settings) -> Replay:
    """A replay of `records` through the candidate rule set, as the benchmark runs one."""
    replay = Replay(settings, {"new": bench.candidate()}, Window(bench.START), 60.0)
    _run(replay, records)
    return replay


def _run(replay: Replay, records: list[tuple[int, Record]]) -> None:
    with replay_collector():
        asyncio.run(replay.run(bench.batches(records)))


def _stage(history: Path, start: int, stop: int, stage: str, scratch: str) -> str:
    """One stage (or `replay`) over events [start, stop), after a replay of [0, start)."""
    records: list[tuple[int, Record]] = pickle.loads(history.read_bytes())
    settings = bench.settings(scratch)
    replay = _replay(records[:start], settings)
    if stage == "replay":
        began = time.process_time()
        _run(replay, records[start:stop])
        took = time.process_time() - began
        return f"replay: {took * 1e6 / (stop - start):.2f} µs an event ({stop - start:,} events)"
    upto = STAGES.index(stage)
    shadow = replay.shadows["new"]
    wiring, stores = shadow.wiring, shadow.stores
    scoring, triggers, moves = wiring.scoring, wiring.triggers, wiring.moves
    seen = stores["seen-crm.engagements"].data
    contacts, owners = stores[scoring.table].data, stores["contact-owners"].data
    opportunities = stores[triggers.table_name].data
    topic = settings.topic("crm.engagements")
    decoder, clock, sink = replay.decoders[topic], replay.clock, scoring.score_sink
    engage, inactivity = scoring.scorer.engage, triggers.inactivity_ids
    todo = [record for _, record in records[start:stop] if record.topic == topic]
    offset, done = 1 << 40, 0
    began = time.process_time()
    for record in todo:
        decoded = decoder.decode(record.key, record.value)
        if not isinstance(decoded, Decoded):
            continue
        done += 1
        e: EngagementRecorded = decoded.event  # type: ignore[assignment]
        key = decoded.key
        if upto < 1:
            continue
        partition, offset = expected_partition(record.key or b"", 4), offset + 1
        window = seen.setdefault(partition, {})
        verdict, ids = remember(window.get(key), e.event_id, offset, settings.dedupe_window)
        if verdict is Seen.DUPLICATE or upto < 2:
            continue
        window[key] = ids
        clock.move_to(e.occurred_at)
        now = clock.now()
        table = contacts.setdefault(partition, {})
        state = table.get(key) or new_state(key, partition)
        result = engage(state, now.timestamp(), e.event_id, e.kind, decoded.at, e.source,
                        e.product_line)  # fmt: skip
        table[key] = result.state
        if upto >= 4:
            if result.snapshot is not None and sink is not None:
                sink(key, functools.partial(score_json, result.state, result.snapshot,
                                            e.event_id, now))  # fmt: skip
            index = scoring.indexes.get(partition)
            if index is not None:
                index.set(key, result.due)
        owner = owners.get(partition, {}).get(key)
        if owner is None or upto < 3:
            continue
        for opportunity in owner.open_ids():
            place = expected_partition(opportunity.encode(), 4)
            states = opportunities.setdefault(place, {})
            found = states.get(opportunity)
            if found is None or not found.is_open:
                continue
            if upto < 4:
                new = apply_activity(found, decoded.at, inactivity)
                if new is not None:
                    states[opportunity] = new
                continue
            action = BuyerAction(opportunity_id=opportunity, contact_id=e.contact_id,
                                 kind=e.kind, at=decoded.at, event_id=e.event_id,
                                 product_line=e.product_line, source=e.source)  # fmt: skip
            new = apply_activity(found, action.at, inactivity) or found
            moves.rules.decide(new, action)
            if new is not found:
                states[opportunity] = new
                if triggers.counts_activity(new):
                    triggers.rescheduled(place, opportunity, new)
    took = time.process_time() - began
    if not done:
        return f"{stage}: no engagement among events {start:,}-{stop:,}"
    return f"{stage}: {took * 1e6 / done:.2f} µs an engagement ({done:,} engagements)"


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--stage":
        saved, first, last, stage, scratch = sys.argv[2:]
        print(_stage(Path(saved), int(first), int(last), stage, scratch))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(bench.SHAPES), default="full-month")
    parser.add_argument("--start", type=int, default=1_000_000)
    parser.add_argument("--stop", type=int, default=1_100_000)
    args = parser.parse_args()
    if not 0 <= args.start < args.stop:
        raise SystemExit("replay_floor: --start must be below --stop")
    scratch = tempfile.mkdtemp(prefix="bench-floor-")
    spec = bench.SHAPES[args.shape]
    history = Path(scratch) / "history.pickle"
    records = bench.history(bench.settings(scratch), args.stop, spec.rate, spec.contacts)
    history.write_bytes(pickle.dumps(records))
    env = {**os.environ, **bench._CHOSEN, "PYTHONHASHSEED": "0"}
    print(f"{args.shape}, events {args.start:,}-{args.stop:,} (allocator: {bench.ALLOCATOR})")
    try:
        for stage in (*STAGES, "replay"):
            command = [sys.executable, "-m", "benchmarks.replay_floor", "--stage", str(history),
                       str(args.start), str(args.stop), stage, scratch]  # fmt: skip
            done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            print(done.stdout.strip(), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
