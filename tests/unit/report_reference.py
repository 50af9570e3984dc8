"""The pipeline report as it was written first: one pass per figure, a whole sort for the
observed p90. `test_pipeline_report.py` checks the stepwise report against it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from workers.pipeline.book import DAY, ClosedDeal, OpenDeal, PipelineBook, PipelineConfig
from workers.pipeline.formulas import mean, median, p90, velocity_per_day, win_rate

MAX_STUCK_LISTED = 100


def reference_report(
    books: Iterable[PipelineBook], config: PipelineConfig, now: float
) -> dict[str, Any]:
    books = list(books)
    open_by: dict[str, list[tuple[str, OpenDeal]]] = defaultdict(list)
    closed_by: dict[str, list[ClosedDeal]] = defaultdict(list)
    stage_time: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    since = now - config.window
    for book in books:
        for key, deal in book.open.items():
            open_by[deal.pipeline].append((key, deal))
        for closed in book.closed.values():
            if closed.closed_at >= since:
                closed_by[closed.pipeline].append(closed)
        for where, (total, count) in book.stage_time.items():
            stage_time[where][0] += total
            stage_time[where][1] += count
    names = list(config.order) + sorted((set(open_by) | set(closed_by)) - set(config.order))
    return {
        "window_days": config.window / DAY,
        "pipelines": [
            _pipeline(name, open_by[name], closed_by[name], stage_time, config, now)
            for name in names
        ],
    }


def _pipeline(
    name: str,
    open_deals: list[tuple[str, OpenDeal]],
    closed: list[ClosedDeal],
    stage_time: dict[tuple[str, str], list[float]],
    config: PipelineConfig,
    now: float,
) -> dict[str, Any]:
    by_stage: dict[str, list[tuple[str, OpenDeal]]] = defaultdict(list)
    for key, deal in open_deals:
        by_stage[deal.stage].append((key, deal))
    closed_in: dict[str, list[ClosedDeal]] = defaultdict(list)
    for done in closed:
        closed_in[done.stage].append(done)
    order = config.order.get(name, [])
    stage_names = order + sorted(set(by_stage) - set(order))
    stages: list[dict[str, Any]] = []
    stuck: list[dict[str, Any]] = []
    for stage in stage_names:
        deals = by_stage.get(stage, [])
        dwell = [now - d.entered_at for _, d in deals]
        limit = config.normal.get((name, stage))
        observed = limit is None
        if observed:
            limit = p90(dwell)
        stuck_here = [
            (k, now - d.entered_at)
            for k, d in deals
            if limit is not None and now - d.entered_at > limit
        ]
        stuck += [
            {"opportunity_id": k, "stage": stage, "days_in_stage": round(s / DAY, 2)}
            for k, s in stuck_here
        ]
        total, count = stage_time.get((name, stage), (0.0, 0.0))
        stages.append(
            {
                "stage": stage,
                "probability": config.probability.get((name, stage)),
                "open_deals": len(deals),
                "open_value": round(sum(d.amount for _, d in deals), 2),
                "weighted_forecast": round(sum(d.amount * d.probability for _, d in deals), 2),
                "stuck_deals": len(stuck_here),
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
    stuck.sort(key=lambda s: -float(s["days_in_stage"]))
    return {
        "pipeline": name,
        "open_deals": len(open_deals),
        "open_value": round(sum(d.amount for _, d in open_deals), 2),
        "weighted_forecast": round(sum(d.amount * d.probability for _, d in open_deals), 2),
        "won": len(won),
        "lost": len(lost),
        "won_value": round(sum(d.amount for d in won), 2),
        "win_rate": None if rate is None else round(rate, 4),
        "avg_won_deal_size": None if avg_size is None else round(avg_size, 2),
        "cycle_days": {"mean": _r(cycle_mean), "median": _r(median(cycle_days)), "count": len(won)},
        "velocity_per_day": _r(velocity_per_day(len(open_deals), rate, avg_size, cycle_mean)),
        "stages": stages,
        "stuck_deals": len(stuck),
        "stuck": stuck[:MAX_STUCK_LISTED],
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
