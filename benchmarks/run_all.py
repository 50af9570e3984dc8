"""`make bench`: every benchmark, one after the other."""

from __future__ import annotations

import runpy
import sys

SCRIPTS = [
    "benchmarks.triggers_scale",
    "benchmarks.triggers_lateness",
    "benchmarks.scoring_throughput",
    "benchmarks.feature_throughput",
    "benchmarks.peer_quix",
    "benchmarks.recovery",
    "benchmarks.backtest_replay",
    "benchmarks.router_tick",
]

if __name__ == "__main__":
    for name in SCRIPTS:
        print(f"== {name}", flush=True)
        sys.argv = [name]
        runpy.run_module(name, run_name="__main__")
