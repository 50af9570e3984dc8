"""`dealstream rules backtest CANDIDATE.yaml [--against CURRENT.yaml | --published] --from T
[--to T] [--cold] [--json] [--html FILE] [--top N] [--tick D] [--target-revenue X ...]`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from workers.backtest import parallel
from workers.backtest.errors import BacktestError
from workers.backtest.history import Extent, History
from workers.backtest.render import page, text
from workers.backtest.replay import Window
from workers.backtest.report import Target, compare
from workers.clock import parse_instant
from workers.pipeline.formulas import close_rate
from workers.rules import Rules
from workers.rules.loader import load_rules
from workers.settings import Settings
from workers.triggers.durations import parse_duration

ONLY_BACKTEST = (
    "against",
    "published",
    "since",
    "until",
    "cold",
    "json",
    "html",
    "top",
    "tick",
    "target_revenue",
    "avg_deal_size",
    "close_rate",
    "reps",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `rules backtest` on the `rules` verb (refused with its other actions)."""
    group = parser.add_argument_group("backtest")
    group.add_argument("--against", type=Path, help="backtest: the current rules file")
    group.add_argument(
        "--published",
        action="store_true",
        help="backtest: against the rules published to the workers (default)",
    )
    group.add_argument("--from", dest="since", help="backtest: ISO 8601 start of the window")
    group.add_argument(
        "--to", dest="until", help="backtest: ISO 8601 end (default: the last event)"
    )
    group.add_argument(
        "--cold",
        action="store_true",
        help="backtest: start from empty state at --from (default: replay the history before it)",
    )
    group.add_argument("--json", action="store_true", help="backtest: one JSON document")
    group.add_argument("--html", type=Path, help="backtest: also write a self-contained page")
    group.add_argument("--top", type=int, default=10, help="backtest: contacts listed (10)")
    group.add_argument("--tick", default="1m", help="backtest: simulated tick interval (1m)")
    group.add_argument("--target-revenue", type=float, help="backtest: monthly revenue target")
    group.add_argument("--avg-deal-size", type=float, help="backtest: with --target-revenue")
    group.add_argument("--close-rate", help="backtest: with --target-revenue, e.g. 0.25 or 25%%")
    group.add_argument("--reps", type=int, help="backtest: reps (default: those assigned)")


def refuse_backtest_options(args: argparse.Namespace) -> None:
    defaults = {"top": 10, "tick": "1m"}
    for name in ONLY_BACKTEST:
        value = getattr(args, name, None)
        if value not in (None, False, defaults.get(name)):
            flag = {"since": "from", "until": "to"}.get(name, name).replace("_", "-")
            raise BacktestError(
                f"--{flag} is an option of `rules backtest`, not `rules {args.action}`"
            )


def run(settings: Settings, args: argparse.Namespace) -> int:
    candidate = load_rules(args.file)
    if args.new is not None:
        raise BacktestError(f"`rules backtest` takes one file ({args.new} is one too many)")
    if args.against is not None and args.published:
        raise BacktestError("give --against FILE or --published, not both")
    window = Window(
        _when(args.since, "--from", required=True), _when(args.until, "--to"), args.cold
    )
    target = _target(args)
    if args.top < 0:
        raise BacktestError(f"--top {args.top}: give 0 or more")
    tick = _duration(args.tick)
    if args.against is not None:
        current, against = load_rules(args.against), str(args.against)
    else:
        current, against = asyncio.run(_published(settings)), "the published rules"
    with tempfile.TemporaryDirectory(prefix="dealstream-backtest-") as scratch:
        shadow_settings = dataclasses.replace(settings, data_dir=Path(scratch), store="memory")
        doc = _backtest(
            shadow_settings,
            {"old": current, "new": candidate},
            window,
            tick,
            target,
            args.top,
            f"{args.file} (version {candidate.version})",
            f"{against} (version {current.version})",
        )
    if args.html is not None:
        args.html.write_text(page(doc), encoding="utf-8")
    if args.json:
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(text(doc))
        if args.html is not None:
            print(f"\nwrote {args.html}")
    return 0


def _backtest(
    settings: Settings,
    rule_sets: dict[str, Rules],
    window: Window,
    tick: float,
    target: Target | None,
    top: int,
    candidate: str,
    against: str,
) -> dict[str, Any]:
    bounds = asyncio.run(History(settings).bounds())
    bar = ProgressBar(bounds.extent)
    started = time.perf_counter()
    replayed = parallel.replay(settings, rule_sets, window, tick, bounds, bar.update)
    seconds = time.perf_counter() - started
    bar.done()
    stats = replayed.stats
    if stats.replayed == 0:
        raise BacktestError(
            f"no event in the history up to {window.end.isoformat() if window.end else 'now'}"
        )
    end = window.end or stats.last or window.start
    days = max((end - window.start).total_seconds(), 0.0) / 86400
    tallies = replayed.tallies
    report = compare(tallies["old"], tallies["new"], top=top, target=target, days=days)
    about = {
        "candidate": candidate,
        "against": against,
        "from": window.start.isoformat(),
        "to": end.isoformat(),
        "days": days,
        "cold": window.cold,
        "records": stats.records,
        "replayed": stats.replayed,
        "warm_records": stats.warm,
        "skipped_records": stats.skipped,
        "ticks": stats.ticks,
        "tick_seconds": tick,
        "seconds": seconds,
        "events_per_second": stats.replayed / seconds if seconds else 0.0,
        "first_event": stats.first.isoformat() if stats.first else None,
        "last_event": stats.last.isoformat() if stats.last else None,
    }
    return {"about": about, "report": report}


async def _published(settings: Settings) -> Rules:
    from workers.runtime.rules_topic import latest_published

    found = await latest_published(settings)
    if found is None:
        raise BacktestError(
            f"no rules published on {settings.topic('dealstream.rules')}: "
            "give --against CURRENT.yaml"
        )
    return found[0]


def _when(value: str | None, flag: str, *, required: bool = False) -> Any:
    if value is None:
        if required:
            raise BacktestError(f"give {flag} TIME (ISO 8601, e.g. 2026-11-01T00:00Z)")
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise BacktestError(
            f"{flag} {value!r}: give an ISO 8601 time, e.g. 2026-11-01T00:00Z"
        ) from None


def _duration(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise BacktestError(f"--tick {value!r}: {exc}") from None


def _target(args: argparse.Namespace) -> Target | None:
    sizing = (args.avg_deal_size, args.close_rate, args.reps)
    if args.target_revenue is None:
        if any(x is not None for x in sizing):
            raise BacktestError("--avg-deal-size, --close-rate and --reps go with --target-revenue")
        return None
    if args.avg_deal_size is None or args.close_rate is None:
        raise BacktestError("--target-revenue needs --avg-deal-size and --close-rate")
    try:
        target = Target(
            args.target_revenue, args.avg_deal_size, close_rate(args.close_rate), args.reps
        )
    except ValueError as exc:
        raise BacktestError(str(exc)) from None
    if target.revenue <= 0 or target.avg_deal_size <= 0 or (target.reps or 1) < 1:
        raise BacktestError("--target-revenue, --avg-deal-size and --reps must be above zero")
    return target


class ProgressBar:
    """Records read of the history, on standard error when it is a terminal."""

    def __init__(self, extent: Extent) -> None:
        self.total = extent.total
        self.live = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.shown = 0.0

    def update(self, records: int, clock: dt.datetime) -> None:
        now = time.perf_counter()
        if not self.live or now - self.shown < 0.2:
            return
        self.shown = now
        rate = records / max(now - self.started, 1e-9)
        share = records / self.total if self.total else 0.0
        eta = (self.total - records) / rate if rate else 0.0
        filled = int(30 * share)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {records:,}/{self.total:,} records "
            f"{rate:,.0f}/s, at {clock:%Y-%m-%d %H:%M}, {eta:,.0f} s left "
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.live and self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
