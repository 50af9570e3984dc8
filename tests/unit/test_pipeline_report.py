"""Pipeline figures from a scripted set of opportunities, computed by hand."""

from __future__ import annotations

import datetime as dt

from schemas.records import OpportunityClosed, OpportunityStageChanged, OpportunityUpserted
from workers.opportunity.state import OpportunityState, apply_event
from workers.pipeline.book import PipelineBook, PipelineConfig
from workers.pipeline.report import build_report
from workers.rules.loader import parse_rules

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RULES = """
version: p
pipelines:
  - id: sales
    stages:
      - {id: contact, probability: 0.1, normal: 5d}
      - {id: proposal, probability: 0.5, normal: 10d}
      - {id: retention, probability: 1.0}
    won_stages: [retention]
"""


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def run(
    opp: str, *steps: tuple[type, float, str, str], amount: float, probability: float | None = None
) -> OpportunityState:
    state = None
    for n, (kind, when, stage, status) in enumerate(steps):
        event = kind(
            event_id=f"{opp}-{n}",
            occurred_at=day(when),
            opportunity_id=opp,
            contact_id="c",
            pipeline_id="sales",
            stage_id=stage,
            status=status,
            amount=amount,
            probability=probability,
        )
        state = apply_event(state, event, 0) or state
    assert state is not None
    return state


def test_report_matches_hand_computed_figures() -> None:
    rules = parse_rules(RULES)
    config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)
    book = PipelineBook(config)
    up, move, close = OpportunityUpserted, OpportunityStageChanged, OpportunityClosed
    for state in [
        run("o1", (up, 95, "proposal", "open"), amount=1000),
        run("o2", (up, 80, "proposal", "open"), amount=2000),  # 20 days > 10: stuck
        run("o3", (up, 99, "contact", "open"), amount=400, probability=0.9),  # own probability
        run(
            "o4",
            (up, 40, "contact", "open"),
            (move, 50, "proposal", "open"),
            (close, 70, "proposal", "won"),
            amount=3000,
        ),
        run(
            "o5", (up, 50, "contact", "open"), (move, 60, "retention", "open"), amount=1000
        ),  # a won stage
        run("o6", (up, 60, "contact", "open"), (close, 90, "contact", "lost"), amount=700),
        run(
            "o7", (up, 0, "contact", "open"), (close, 5, "contact", "won"), amount=9999
        ),  # outside 90 days
    ]:
        book.apply(state)
    report = build_report([book], config, day(100).timestamp())
    (sales,) = report["pipelines"]
    assert (sales["open_deals"], sales["open_value"], sales["weighted_forecast"]) == (3, 3400, 1860)
    assert (sales["won"], sales["lost"], sales["win_rate"]) == (2, 1, 0.6667)
    assert sales["avg_won_deal_size"] == 2000
    assert sales["cycle_days"] == {"mean": 20.0, "median": 20.0, "count": 2}
    # velocity = 3 open × 2/3 × 2,000 / 20 days
    assert sales["velocity_per_day"] == 200.0
    stages = {s["stage"]: s for s in sales["stages"]}
    assert (
        stages["proposal"]["open_deals"],
        stages["proposal"]["weighted_forecast"],
        stages["proposal"]["stuck_deals"],
    ) == (2, 1500, 1)
    assert [s["opportunity_id"] for s in sales["stuck"]] == ["o2"]
    # completed visits: contact 10 (o4) + 10 (o5) + 30 (o6) + 5 (o7) days; proposal 20 (o4)
    assert stages["contact"]["avg_days_in_stage"] == 13.75
    assert stages["proposal"]["avg_days_in_stage"] == 20.0
    # closed per stage in the window: o5 won in retention (a won stage), o4 won in proposal,
    # o6 lost in contact (o7 is outside the window)
    assert [(s["stage"], s["won_deals"], s["lost_deals"], s["won_value"]) for s in sales["stages"]
            if s["won_deals"] or s["lost_deals"]] == [
        ("contact", 0, 1, 0), ("proposal", 1, 0, 3000), ("retention", 1, 0, 1000)
    ]  # fmt: skip
    book.apply(
        run("o2", (up, 80, "proposal", "open"), (close, 100, "proposal", "lost"), amount=2000)
    )
    again = build_report([book], config, day(100).timestamp())["pipelines"][0]
    assert (again["open_deals"], again["lost"], again["stuck_deals"]) == (2, 2, 0)
