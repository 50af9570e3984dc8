"""The router's tick with a deep queue: what one `Router.on_time` costs when thousands of leads
wait and no rep can take them (every rep at its daily capacity), as after a flood of sales-ready
leads or a threshold lowered by a backtest.

Pure code, in process: the default rules, 6 reps over three product lines, 7,500 queued leads
over four lines (general included) and 800 leads already with their owner.

    python -m benchmarks.router_tick [--leads 7500] [--print]

`--print` prints instead of writing RESULTS.md. The "before" figure in CHANGELOG.md was taken
with this script against the router of 0b093be (`git show 0b093be:workers/routing/router.py`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.results import write_section
from workers.routing.leads import Lead
from workers.routing.roster import Rep
from workers.routing.router import Router
from workers.rules.loader import load_rules

RULES = Path(__file__).resolve().parents[1] / "workers/rules/default_rules.yaml"
NOW = 1793613600.0  # 2026-11-02 10:00 UTC, a Monday
LINES = ["crm", "erp", "analytics", "general"]


def world(queued: int) -> tuple[dict[str, Rep], dict[str, Lead], dict[str, list[str]]]:
    sells = ["crm", "erp", "analytics", "crm", "erp", "analytics"]
    reps = {
        f"r{i}": Rep(
            rep_id=f"r{i}",
            product_lines=[pl],
            per_day=12,
            assigned_day=12,
            day="2026-11-02",
            month="2026-11",
        )
        for i, pl in enumerate(sells)
    }
    leads: dict[str, Lead] = {}
    queues: dict[str, list[str]] = {pl: [] for pl in LINES}
    for i in range(queued):
        key, pl = f"c{i}", LINES[i % len(LINES)]
        leads[key] = Lead(
            key=key, contact_id=key, product_line=pl, signal_id=f"{key}:ready:1", status="queued"
        )
        queues[pl].append(key)
    for i in range(800):
        key = f"o{i}"
        leads[key] = Lead(
            key=key,
            contact_id=key,
            product_line="crm",
            signal_id=f"{key}:ready:1",
            status="owner_notified",
        )
    return reps, leads, queues


def run(queued: int, rounds: int = 20) -> dict[str, float]:
    router = Router(load_rules(RULES).routing)
    reps, leads, queues = world(queued)
    started = time.perf_counter()
    for _ in range(rounds):
        out = router.on_time(reps, leads, queues, now=NOW, seq=0)
    seconds = (time.perf_counter() - started) / rounds
    assert not out.decisions  # nobody can take a lead: the tick decides nothing
    return {"queued": queued, "ms": seconds * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=7500)
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    r = run(args.leads)
    body = (
        "One `Router.on_time` with every rep at its daily capacity (the tick decides nothing),"
        f" {r['queued']:,.0f} leads queued over four lines and 800 with their owner; the mean "
        "of 20 ticks, pure code in process.\n\n"
        f"| leads queued | ms per tick |\n| --- | --- |\n| {r['queued']:,.0f} | {r['ms']:.1f} |\n"
    )
    if args.print:
        print(body)
        return
    write_section("Router tick with a deep queue (benchmarks/router_tick.py)", body)


if __name__ == "__main__":
    main()
