"""Faust's own ceilings on this machine, measured beside a dealstream benchmark.

Run as a module with FAUST_REF_* variables, it is a minimal Faust worker: one agent over a
topic that only decodes each value with orjson (`bare`), or that also writes one key per
event to a rocksdict table (`table`, the cost of Faust's changelog path). It prints
`RATE <events/s>` once it has seen FAUST_REF_EVENTS events and exits.

`measure(bootstrap, topic, events, mode, workdir)` runs it in a subprocess and returns the rate.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("bare", "table")


def measure(
    bootstrap: str, topic: str, events: int, mode: str, workdir: Path, partitions: int = 4
) -> float:
    env = {
        "FAUST_REF_PARTITIONS": str(partitions),
        **os.environ,
        "FAUST_REF_BOOTSTRAP": bootstrap,
        "FAUST_REF_TOPIC": topic,
        "FAUST_REF_EVENTS": str(events),
        "FAUST_REF_MODE": mode,
        "FAUST_REF_DIR": str(workdir / f"faust-ref-{mode}"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.faust_reference"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    # Faust's worker redirects stdout to its logger, so the line may arrive on stderr
    found = re.search(r"RATE ([0-9.]+)", done.stdout + done.stderr)
    if found:
        return float(found.group(1))
    raise RuntimeError(f"faust reference {mode} failed:\n{done.stderr[-2000:]}")


def _run() -> None:  # pragma: no cover - runs in the subprocess
    import faust
    import orjson

    mode, events = os.environ["FAUST_REF_MODE"], int(os.environ["FAUST_REF_EVENTS"])
    app = faust.App(
        f"faust-ref-{mode}-{os.getpid()}",
        broker=f"kafka://{os.environ['FAUST_REF_BOOTSTRAP']}",
        store="rocksdb://",
        datadir=os.environ["FAUST_REF_DIR"],
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        topic_partitions=int(os.environ.get("FAUST_REF_PARTITIONS", "4")),
    )
    topic = app.topic(os.environ["FAUST_REF_TOPIC"], key_type=bytes, value_type=bytes)
    table: Any = app.Table("ref", default=None) if mode == "table" else None
    seen = {"n": 0, "start": 0.0}

    @app.agent(topic)
    async def reference(stream: Any) -> None:
        async for event in stream.events():
            orjson.loads(event.message.value)
            if table is not None:
                table[event.message.key.decode()] = seen["n"]
            seen["n"] += 1
            if seen["n"] == 1:
                seen["start"] = time.perf_counter()
            elif seen["n"] == events:
                rate = (events - 1) / (time.perf_counter() - seen["start"])
                print(f"RATE {rate:.1f}", flush=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    _run()
