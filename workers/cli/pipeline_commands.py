"""`dealstream pipeline report|size`: the live figures of a worker, and source 004's sizing."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

from workers.pipeline.formulas import size
from workers.settings import Settings


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url.rstrip('/')}/pipelines", timeout=10) as resp:
        data: dict[str, Any] = orjson.loads(resp.read())
        return data


def run(settings: Settings, args: argparse.Namespace) -> int:
    url = args.url or f"http://{settings.web_host}:{settings.web_port}"
    report: dict[str, Any] = {"pipelines": []}
    needs_worker = args.action == "report" or None in (args.avg_deal_size, args.close_rate)
    if needs_worker:
        try:
            report = fetch(url)
        except (OSError, urllib.error.URLError) as exc:
            print(f"dealstream pipeline: cannot read {url}/pipelines: {exc}", file=sys.stderr)
            return 2
    pipelines = report["pipelines"]
    if args.pipeline:
        pipelines = [p for p in pipelines if p["pipeline"] == args.pipeline]
    if args.action == "report":
        if args.json:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        else:
            for p in pipelines:
                print_pipeline(p)
        return 0
    return print_size(args, pipelines[0] if pipelines else {})


def print_pipeline(p: dict[str, Any]) -> None:
    print(
        f"pipeline {p['pipeline']}: {p['open_deals']} open deals worth {p['open_value']:,.2f}, "
        f"weighted forecast {p['weighted_forecast']:,.2f}"
    )
    print(
        f"  won {p['won']} / lost {p['lost']} (win rate {p['win_rate']}), average won deal "
        f"{p['avg_won_deal_size']}, cycle {p['cycle_days']['mean']} days (median "
        f"{p['cycle_days']['median']}), velocity {p['velocity_per_day']} a day"
    )
    print(f"  {'stage':<16}{'open':>6}{'value':>14}{'forecast':>14}{'stuck':>7}{'avg days':>10}")
    for s in p["stages"]:
        avg = "-" if s["avg_days_in_stage"] is None else f"{s['avg_days_in_stage']:.1f}"
        print(
            f"  {s['stage']:<16}{s['open_deals']:>6}{s['open_value']:>14,.2f}"
            f"{s['weighted_forecast']:>14,.2f}{s['stuck_deals']:>7}{avg:>10}"
        )


def print_size(args: argparse.Namespace, observed: dict[str, Any]) -> int:
    if args.target_revenue is None:
        print("dealstream pipeline size: --target-revenue is required", file=sys.stderr)
        return 2
    avg = (
        args.avg_deal_size if args.avg_deal_size is not None else observed.get("avg_won_deal_size")
    )
    rate = args.close_rate if args.close_rate is not None else observed.get("win_rate")
    reps = args.reps
    missing = [
        n for n, v in (("--avg-deal-size", avg), ("--close-rate", rate), ("--reps", reps)) if not v
    ]
    if missing:
        print(
            f"dealstream pipeline size: nothing observed yet for {', '.join(missing)}; give it",
            file=sys.stderr,
        )
        return 2
    deal, close = float(avg or 0), float(rate or 0)
    result = size(args.target_revenue, deal, close, int(reps or 0))
    target = args.target_revenue
    print(f"target revenue {target:,.2f} at {deal:,.2f} a deal → {result.deals} deals")
    print(f"at a close rate of {close:g} → {result.leads} leads")
    print(f"with {reps} reps → {result.leads_per_rep} leads per rep")
    return 0
