"""The /pipelines report: per pipeline and stage, from one or more partitions' books.

With a million open deals a report walks every deal (about half a second here). `report_steps`
is that walk as a generator that yields every `STEP` deals, so an async caller can build it on
the event loop in slices (workers/runtime/pipeline_reports.py) without holding the loop;
`build_report` runs it in one go. No step sorts more than `STEP` values at once: the observed
p90 is a merge of sorted chunks, and only the `MAX_STUCK_LISTED` longest-stuck deals are kept.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Generator, Iterable, Sequence
from typing import Any, TypeVar

from workers.pipeline.book import DAY, ClosedDeal, OpenDeal, PipelineBook, PipelineConfig
from workers.pipeline.formulas import mean, median, velocity_per_day, win_rate

MAX_STUCK_LISTED = 100
STEP = 4096  # deals handled between two yields

T = TypeVar("T")
Steps = Generator[None, None, T]


def build_report(
    books: Iterable[PipelineBook], config: PipelineConfig, now: float
) -> dict[str, Any]:
    return run_steps(report_steps(books, config, now))


def run_steps(steps: Steps[T]) -> T:
    """What a step generator returns, run in one go."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def report_steps(
    books: Iterable[PipelineBook], config: PipelineConfig, now: float
) -> Steps[dict[str, Any]]:
    # Deals are grouped as parallel lists of keys and deals, not as (key, deal) tuples: a
    # million new tuples would be tracked by the garbage collector, whose full collections
    # then walk them all (the deals themselves are untracked structs).
    grouped: dict[str, _Open] = defaultdict(_Open)
    closed_by: dict[str, list[ClosedDeal]] = defaultdict(list)
    stage_time: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    since = now - config.window
    for book in books:
        for n, (key, deal) in enumerate(book.open.items(), 1):
            grouped[deal.pipeline].add(key, deal)
            if n % STEP == 0:
                yield
        for n, closed in enumerate(book.closed.values(), 1):
            if closed.closed_at >= since:
                closed_by[closed.pipeline].append(closed)
            if n % STEP == 0:
                yield
        for where, (total, count) in book.stage_time.items():
            stage_time[where][0] += total
            stage_time[where][1] += count
    names = list(config.order) + sorted((set(grouped) | set(closed_by)) - set(config.order))
    pipelines = []
    for name in names:
        pipeline = yield from _pipeline(
            name, grouped[name], closed_by[name], stage_time, config, now
        )
        pipelines.append(pipeline)
    return {"window_days": config.window / DAY, "pipelines": pipelines}


class _Open:
    """One pipeline's open deals by stage, with its sums (added in the order of the books)."""

    __slots__ = ("count", "deals", "keys", "value", "weighted")

    def __init__(self) -> None:
        self.keys: dict[str, list[str]] = defaultdict(list)
        self.deals: dict[str, list[OpenDeal]] = defaultdict(list)
        self.count = 0
        self.value = 0.0
        self.weighted = 0.0

    def add(self, key: str, deal: OpenDeal) -> None:
        self.keys[deal.stage].append(key)
        self.deals[deal.stage].append(deal)
        self.count += 1
        self.value += deal.amount
        self.weighted += deal.amount * deal.probability


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), STEP):
        yield items[start : start + STEP]


def _p90(values: list[float]) -> Steps[float | None]:
    """`formulas.p90`, from sorted chunks merged up to the rank: no sort of the whole list."""
    if not values:
        return None
    runs = []
    for chunk in _chunks(values):
        runs.append(sorted(chunk))
        yield
    rank = min(len(values) - 1, math.ceil(0.9 * len(values)) - 1)
    for n, value in enumerate(heapq.merge(*runs)):
        if n == rank:
            return value
        if n % STEP == STEP - 1:
            yield
    raise AssertionError("unreachable: rank < len(values)")


def _pipeline(
    name: str,
    open_deals: _Open,
    closed: list[ClosedDeal],
    stage_time: dict[tuple[str, str], list[float]],
    config: PipelineConfig,
    now: float,
) -> Steps[dict[str, Any]]:
    closed_in: dict[str, list[ClosedDeal]] = defaultdict(list)
    for done in closed:
        closed_in[done.stage].append(done)
    order = config.order.get(name, [])
    stage_names = order + sorted(set(open_deals.deals) - set(order))
    stages: list[dict[str, Any]] = []
    longest: list[tuple[float, int, str, str]] = []  # the stuck to list: (days, -seen, key, stage)
    stuck_total = 0
    seen = 0
    for stage in stage_names:
        deals = open_deals.deals.get(stage, [])
        keys = open_deals.keys.get(stage, [])
        dwell: list[float] = []
        value = forecast = 0.0
        for chunk in _chunks(deals):
            for d in chunk:
                dwell.append(now - d.entered_at)
                value += d.amount
                forecast += d.amount * d.probability
            yield
        limit = config.normal.get((name, stage))
        observed = limit is None
        if observed:
            limit = yield from _p90(dwell)
        stuck_here = 0
        if limit is not None:
            for start in range(0, len(deals), STEP):
                for key, days in zip(
                    keys[start : start + STEP], dwell[start : start + STEP], strict=True
                ):
                    if days > limit:
                        stuck_here += 1
                        seen += 1
                        entry = (round(days / DAY, 2), -seen, key, stage)
                        if len(longest) < MAX_STUCK_LISTED:
                            heapq.heappush(longest, entry)
                        else:
                            heapq.heappushpop(longest, entry)
                yield
        stuck_total += stuck_here
        total, count = stage_time.get((name, stage), (0.0, 0.0))
        stages.append(
            {
                "stage": stage,
                "probability": config.probability.get((name, stage)),
                "open_deals": len(deals),
                "open_value": round(value, 2),
                "weighted_forecast": round(forecast, 2),
                "stuck_deals": stuck_here,
                "stuck_after_days": None if limit is None else round(limit / DAY, 2),
                "stuck_limit": "observed_p90" if observed else "normal_duration",
                "avg_days_in_stage": round(total / count / DAY, 2) if count else None,
                # a won or lost stage (deals there are closed), or None for an open one
                "closes_as": "won"
                if stage in config.won.get(name, ())
                else "lost"
                if stage in config.lost.get(name, ())
                else None,
                # closed in this stage within the window (a won stage: the deals won there)
                "won_deals": sum(1 for d in closed_in[stage] if d.outcome == "won"),
                "lost_deals": sum(1 for d in closed_in[stage] if d.outcome == "lost"),
                "won_value": round(
                    sum(d.amount for d in closed_in[stage] if d.outcome == "won"), 2
                ),
            }
        )
    won = [d for d in closed if d.outcome == "won"]
    lost = [d for d in closed if d.outcome == "lost"]
    rate = win_rate(len(won), len(lost))
    avg_size = mean([d.amount for d in won])
    cycle_days = [d.cycle / DAY for d in won]
    cycle_mean = mean(cycle_days)
    stuck = [
        {"opportunity_id": key, "stage": stage, "days_in_stage": days}
        for days, _, key, stage in sorted(longest, key=lambda e: (-e[0], -e[1]))
    ]
    return {
        "pipeline": name,
        "open_deals": open_deals.count,
        "open_value": round(open_deals.value, 2),
        "weighted_forecast": round(open_deals.weighted, 2),
        "won": len(won),
        "lost": len(lost),
        "won_value": round(sum(d.amount for d in won), 2),
        "win_rate": None if rate is None else round(rate, 4),
        "avg_won_deal_size": None if avg_size is None else round(avg_size, 2),
        "cycle_days": {"mean": _r(cycle_mean), "median": _r(median(cycle_days)), "count": len(won)},
        "velocity_per_day": _r(velocity_per_day(open_deals.count, rate, avg_size, cycle_mean)),
        "stages": stages,
        "stuck_deals": stuck_total,
        "stuck": stuck,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
