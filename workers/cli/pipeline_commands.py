"""`dealstream pipeline report|size`: the live figures of a worker, and source 004's sizing."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from typing import Any

import orjson

from workers.cli.errors import UNAVAILABLE, CliError
from workers.pipeline.formulas import close_rate, size
from workers.rules.references import did_you_mean
from workers.settings import Settings


def fetch(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url.rstrip('/')}/pipelines", timeout=10) as resp:
        data: dict[str, Any] = orjson.loads(resp.read())
        return data


def run(settings: Settings, args: argparse.Namespace) -> int:
    url = args.url or f"http://{settings.web_host}:{settings.web_port}"
    report: dict[str, Any] = {"pipelines": []}
    if args.action == "size":
        given = _size_arguments(args)  # bad numbers are refused before any worker is asked
    needs_worker = args.action == "report" or None in (args.avg_deal_size, args.close_rate)
    if needs_worker:
        try:
            report = fetch(url)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise CliError(
                f"cannot read {url}/pipelines ({reason}): is a worker running there? "
                "(--url or DEALSTREAM_WEB_HOST/DEALSTREAM_WEB_PORT)",
                UNAVAILABLE,
            ) from None
    pipelines = report["pipelines"]
    if args.pipeline:
        names = [p["pipeline"] for p in pipelines]
        pipelines = [p for p in pipelines if p["pipeline"] == args.pipeline]
        if not pipelines and needs_worker:
            raise CliError(
                f"--pipeline {args.pipeline}: no such pipeline "
                f"(known: {', '.join(names) or 'none'}){did_you_mean(args.pipeline, names)}"
            )
    if args.action == "report":
        if args.json:
            print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        else:
            for p in pipelines:
                print_pipeline(p)
        return 0
    return print_size(args, given, pipelines[0] if pipelines else {})


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


def _size_arguments(args: argparse.Namespace) -> dict[str, float | int | None]:
    """The sizing numbers given on the command line, each checked (None: not given)."""
    if args.target_revenue is None:
        raise CliError("pipeline size needs --target-revenue (the revenue to reach, > 0)")
    if not args.target_revenue > 0:
        raise CliError(f"--target-revenue {args.target_revenue:g}: must be > 0")
    if args.avg_deal_size is not None and not args.avg_deal_size > 0:
        raise CliError(f"--avg-deal-size {args.avg_deal_size:g}: must be > 0")
    if args.reps is not None and args.reps < 1:
        raise CliError(f"--reps {args.reps}: must be ≥ 1")
    return {"close_rate": None if args.close_rate is None else parse_rate(args.close_rate)}


def parse_rate(text: str) -> float:
    """`0.25` or `25%`: a close rate in (0, 1]."""
    try:
        return close_rate(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def print_size(
    args: argparse.Namespace, given: dict[str, float | int | None], observed: dict[str, Any]
) -> int:
    avg = args.avg_deal_size
    if avg is None:
        avg = observed.get("avg_won_deal_size")
    rate = given["close_rate"]
    if rate is None:
        rate = observed.get("win_rate")
    missing = [n for n, v in (("--avg-deal-size", avg), ("--close-rate", rate)) if not v]
    if missing:
        raise CliError(f"the worker has observed no won deals yet, so give {' and '.join(missing)}")
    deal, close = float(avg or 0), float(rate or 0)
    result = size(args.target_revenue, deal, close, args.reps)
    target = args.target_revenue
    if args.json:
        print(orjson.dumps({
            "target_revenue": target, "avg_deal_size": deal, "close_rate": close,
            "reps": args.reps, "deals": result.deals, "leads": result.leads,
            "leads_per_rep": result.leads_per_rep,
        }).decode())  # fmt: skip
        return 0
    print(f"target revenue {target:,.2f} at {deal:,.2f} a deal → {result.deals} deals")
    print(f"at a close rate of {close:g} → {result.leads} leads")
    if result.leads_per_rep is not None:
        print(f"with {args.reps} reps → {result.leads_per_rep} leads per rep")
    return 0
