"""Pipeline figures from a scripted set of opportunities, computed by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import OpportunityClosed, OpportunityStageChanged, OpportunityUpserted
from workers.opportunity.state import OpportunityState, apply_event
from workers.pipeline import report
from workers.pipeline.book import DAY, ClosedDeal, OpenDeal, PipelineBook, PipelineConfig
from workers.pipeline.formulas import p90
from workers.pipeline.report import build_report
from workers.rules.loader import parse_rules

from . import report_reference

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


def test_reports_are_built_from_a_snapshot_shared_by_callers_and_cached() -> None:
    """The report is built off the event loop from copies of the books: a deal applied while it
    builds is in the next report, callers at the same time share one build, and a caller that
    accepts an older report gets the cached one."""
    import asyncio

    from workers.runtime.pipeline_reports import PipelineReports

    rules = parse_rules(RULES)
    config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)
    book = PipelineBook(config)
    book.apply(run("o1", (OpportunityUpserted, 95, "proposal", "open"), amount=1000))
    builds = []

    def books() -> dict[int, PipelineBook]:
        builds.append(1)
        return {0: book}

    reports = PipelineReports(books, lambda: config, lambda: day(100).timestamp())

    def open_deals(report: dict[str, Any]) -> int:
        [pipeline] = report["pipelines"]
        return sum(int(s["open_deals"]) for s in pipeline["stages"])

    async def scenario() -> None:
        first, second = await asyncio.gather(reports.get(), reports.get())
        assert first is second
        assert len(builds) == 1
        assert open_deals(first) == 1
        assert first["partitions"] == [0]
        book.apply(run("o2", (OpportunityUpserted, 96, "proposal", "open"), amount=10))
        assert open_deals(first) == 1  # the report does not see the live book
        assert await reports.get(max_age=60) is first
        assert open_deals(await reports.get()) == 2
        assert len(builds) == 2

    asyncio.run(scenario())


deal_strategy = st.tuples(
    st.sampled_from(["sales", "renewals"]),
    st.sampled_from(["contact", "proposal", "retention", "other"]),
    st.integers(0, 400).map(lambda x: x / 10),  # days in stage: ties and distinct values
    st.sampled_from([0.0, 10.0, 250.5, 1000.0]),
    st.sampled_from([0.1, 0.5, 0.9]),
)


@settings(max_examples=200, deadline=None)
@given(
    open_deals=st.lists(deal_strategy, max_size=60),
    closed=st.lists(
        st.tuples(st.sampled_from(["won", "lost"]), st.integers(0, 120), st.integers(1, 60)),
        max_size=20,
    ),
    books=st.integers(1, 3),
)
def test_the_stepwise_report_equals_the_reference(
    open_deals: list[tuple[str, str, float, float, float]],
    closed: list[tuple[str, int, int]],
    books: int,
) -> None:
    """Built in steps of 3 deals (chunked p90, only the longest-stuck kept), the report is the
    one the first, whole-list implementation gives, tie order of the stuck list included."""
    rules = parse_rules(RULES)
    config = PipelineConfig.from_rules(rules.pipelines, rules.analytics.window)
    parts = [PipelineBook(config) for _ in range(books)]
    now = day(100).timestamp()
    for i, (pipeline, stage, days, amount, probability) in enumerate(open_deals):
        parts[i % books].open[f"o{i}"] = OpenDeal(
            pipeline, stage, now - days * DAY, amount, probability
        )
    for i, (outcome, ago, cycle) in enumerate(closed):
        parts[i % books].closed[f"x{i}"] = ClosedDeal(
            "sales", outcome, now - ago * DAY, 100.0 + i, cycle * DAY, "proposal"
        )
    with patch.object(report, "STEP", 3), patch.object(report, "MAX_STUCK_LISTED", 5):
        stepwise = report.build_report(parts, config, now)
    with patch.object(report_reference, "MAX_STUCK_LISTED", 5):
        expected = report_reference.reference_report(parts, config, now)
    assert stepwise == expected


@given(st.lists(st.floats(-1e6, 1e6), max_size=50))
def test_the_chunked_p90_is_the_p90(values: list[float]) -> None:
    with patch.object(report, "STEP", 4):
        assert report.run_steps(report._p90(values)) == p90(values)
