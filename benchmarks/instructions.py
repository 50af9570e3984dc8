"""Instructions a window of a backtest's replay executes, counted by callgrind: the figures of
benchmarks/RESULTS.md ("G") and docs/design.md ("One native call an engagement").

The replay starts and stops callgrind's count itself, with a client request at the first event
of the window and after its last one (a few lines of C, compiled here and loaded with
`ctypes`), so any interpreter can be counted, Debian's stripped one too; the events before the
window run under valgrind uncounted. One rule set (the default rules with the sales-ready
threshold at 80), tables in memory, the history generated (outside valgrind) as
`benchmarks/backtest_replay.py` generates it. Needs valgrind with its headers and a C compiler.
Counts do not drift with the machine's speed: compare two builds by their counts.

    python -m benchmarks.instructions [--shape day|month|full-month] [--start N] [--stop N]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from benchmarks import backtest_replay as bench
from workers.backtest.replay import Replay, Window
from workers.engine.records import Record
from workers.runtime.pacing import replay_collector

WINDOWS = {
    "day": (40_000, 50_000),
    "month": (100_000, 110_000),
    "full-month": (1_000_000, 1_010_000),
}
TOGGLE = """#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS;
                         CALLGRIND_TOGGLE_COLLECT; }
void count_stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS;
                        CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _counted(history: Path, library: Path, start: int, stop: int, scratch: str) -> None:
    """Under valgrind: replay events [0, stop), counting [start, stop)."""
    records: list[tuple[int, Record]] = pickle.loads(history.read_bytes())[:stop]
    toggle = ctypes.CDLL(str(library))
    replay = Replay(bench.settings(scratch), {"new": bench.candidate()}, Window(bench.START), 60.0)

    async def batches() -> AsyncIterator[list[tuple[int, Record]]]:
        for first in range(0, len(records), bench.BATCH):
            if first == start:
                toggle.count_start()
            yield records[first : first + bench.BATCH]
        toggle.count_stop()  # asked for the batch after the last: the last one has run

    with replay_collector():
        asyncio.run(replay.run(batches()))


def _count(shape: str, start: int, stop: int) -> int:
    if shutil.which("valgrind") is None or shutil.which("cc") is None:
        raise SystemExit("instructions: needs valgrind and a C compiler (apt-get install valgrind)")
    if start % bench.BATCH or stop <= start:
        raise SystemExit(f"instructions: --start must be a multiple of {bench.BATCH}, below --stop")
    scratch = tempfile.mkdtemp(prefix="bench-instructions-")
    library, source = Path(scratch) / "toggle.so", Path(scratch) / "toggle.c"
    source.write_text(TOGGLE)
    built = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                           capture_output=True, text=True)  # fmt: skip
    if built.returncode:
        raise SystemExit(f"instructions: the toggle did not compile (valgrind's headers?): "
                         f"{built.stderr.strip().splitlines()[-1:]}")  # fmt: skip
    spec = bench.SHAPES[shape]
    records = bench.history(bench.settings(scratch), stop, spec.rate, spec.contacts)
    history = Path(scratch) / "history.pickle"
    history.write_bytes(pickle.dumps(records))
    out = Path(scratch) / "callgrind.out"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
               f"--callgrind-out-file={out}.%p", sys.executable, "-m", "benchmarks.instructions",
               "--counted", str(history), str(library), str(start), str(stop), scratch]  # fmt: skip
    # one string hash seed: set orders, and so the instructions, are the same run to run
    same = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, check=True, capture_output=True, env=same)
    # the dump the window's end asked for (`.1`); the file written at exit counts nothing
    totals = [
        int(found.group(1))
        for path in Path(scratch).glob("callgrind.out.*.1")
        if (found := re.search(r"^summary: (\d+)$", path.read_text(errors="replace"), re.M))
    ]
    shutil.rmtree(scratch, ignore_errors=True)
    if len(totals) != 1:
        raise SystemExit("instructions: callgrind counted nothing (the window was not reached?)")
    return totals[0]


def main() -> None:
    if len(sys.argv) == 7 and sys.argv[1] == "--counted":
        history, library, first, last, scratch = sys.argv[2:]
        _counted(Path(history), Path(library), int(first), int(last), scratch)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(WINDOWS), default="full-month")
    parser.add_argument("--start", type=int, help="first event counted (default: the shape's)")
    parser.add_argument("--stop", type=int, help="first event not counted")
    args = parser.parse_args()
    start, stop = WINDOWS[args.shape]
    start, stop = args.start if args.start is not None else start, args.stop or stop
    count = _count(args.shape, start, stop)
    print(f"{args.shape}, events {start:,}-{stop:,}: {count / 1e6:,.1f} million instructions "
          f"({count / (stop - start):,.0f} an event; Python {sys.version.split()[0]}, "
          f"{os.path.realpath(sys.executable)})")  # fmt: skip


if __name__ == "__main__":
    main()
