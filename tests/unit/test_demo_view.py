"""The demo's live view: laid out for 80×24, 100×40 and 160×50 without cutting an id, a rate
from the worker's counter over a window, and the reasons that made a lead's score."""

from __future__ import annotations

import re

import orjson
import pytest

from tests.view_check import assert_fits_whole, feed_ids, screen
from workers.demo.feed import Feed
from workers.demo.view import layout_for, status_line, why

LONG = "qualification-with-a-long-name"
WORDS = {"rep", "qualification", "demo", "per", "lead", "stage", "c", "o"}  # shown as words
WHOLE = {LONG, "stalled-proposal-reminder", "implausible_timestamp", "demo-request",
         "lead_assigned", "opportunity", "period", "forecast", "contact", "stars",
         *(f"o-{10_000 + i}" for i in range(8)), *(f"c-{123_456 + i}" for i in range(8)),
         *(f"rep-longname-{i}" for i in range(8))}  # fmt: skip


def metrics(valid: float, lag: float = 3.0) -> str:
    return (
        "# TYPE dealstream_events_valid_total counter\n"
        f'dealstream_events_valid_total{{topic="crm.engagements"}} {valid}\n'
        "# TYPE dealstream_consumer_lag_messages gauge\n"
        f'dealstream_consumer_lag_messages{{topic="crm.engagements",partition="0"}} {lag}\n'
        f'dealstream_consumer_lag_messages{{topic="dealstream.router",partition="0"}} 50\n'
        "# TYPE dealstream_lead_queue_depth gauge\n"
        'dealstream_lead_queue_depth{product_line="erp"} 2\n'
    )


def busy_feed() -> Feed:
    feed = Feed()
    feed.header = {"sent": 123_456, "sim_now": "2026-11-23T09:00:00+00:00", "elapsed": 75.0,
                   "metrics_url": "http://127.0.0.1:45678/metrics"}  # fmt: skip
    feed.observe(100.0, metrics(1000))
    feed.observe(101.0, metrics(1090))
    for i in range(8):
        feed.add("crm.trigger-firings", {"trigger_id": "stalled-proposal-reminder",
                 "opportunity_id": f"o-{10_000 + i}", "stage_id": LONG, "period": i + 1,
                 "due_at": "2026-11-23T09:00:00+00:00"})  # fmt: skip
        feed.add("crm.lead-assignments", {"decision": "assigned", "rep_id": f"rep-longname-{i}"})
        feed.add("crm.stage-moves", {"opportunity_id": f"o-{20_000 + i}",
                 "from_stage_id": "qualification", "to_stage_id": "meeting"})  # fmt: skip
        feed.add("crm.rep-notifications", {"kind": "lead_assigned"})
        feed.add("crm.dead-letters", {"error": {"code": "implausible_timestamp"}})
    feed.add("crm.lead-assignments", {"decision": "reassigned", "rep_id": "rep-x"})
    feed.leads = [
        {"contact_id": f"c-{123_456 + i}", "stars": 4, "total": 88, "engagement": 80,
         "breakdown": [{"rule_id": "demo-request", "points": 120},
                       {"rule_id": "engagement_cap", "points": -40},
                       {"rule_id": "hot", "points": 20}, {"rule_id": "cold-city", "points": -12}]}
        for i in range(8)
    ]  # fmt: skip
    stages = [
        {"stage": s, "open_deals": 12, "open_value": 123456, "weighted_forecast": 45678}
        for s in ("contact", LONG, "meeting", "proposal", "closing", "retention")
    ]
    feed.pipelines = {"pipelines": [{"stages": stages, "won": 9, "lost": 4, "win_rate": 0.69,
                                     "weighted_forecast": 99999, "stuck_deals": 3,
                                     "open_deals": 72, "open_value": 740736}]}  # fmt: skip
    return feed


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 40), (160, 50)])
def test_the_view_fits_the_terminal_and_never_cuts_an_id(width: int, height: int) -> None:
    feed = busy_feed()
    text = screen(feed, width, height)
    assert_fits_whole(text, width, height, WHOLE | feed_ids(feed), WORDS)
    assert "c-123456" in text  # the top lead, whole, on every layout
    assert re.search(r"stage moves(?: asked)?\s+8\b", text), text  # figures, not just labels
    if layout_for(width, height).name != "compact":
        assert "o-10007" in text  # the latest firing
        assert "stalled-proposal-reminder" in text
        assert LONG in text


def test_the_rate_is_the_counter_over_the_window_and_lag_counts_input_topics() -> None:
    feed = Feed()
    assert feed.rate() is None
    for second in range(30):
        feed.observe(1000.0 + second, metrics(90.0 * second, lag=7))
    assert feed.rate() == pytest.approx(90.0)
    assert feed.lag == 7  # the router's internal topic is not input lag
    feed.observe(1030.2, metrics(90.0 * 29))  # a scrape with no new events: no "0/s" frame
    assert 75 < (feed.rate() or 0) < 90


def test_why_lists_what_made_the_score_and_shows_the_cap_as_a_cap() -> None:
    lead = busy_feed().leads[0]
    assert why(lead, 60) == "demo-request +120, hot +20, cap 80"
    assert why(lead, 25) == "demo-request +120, cap 80"
    assert why(lead, 10) == "demo-request +120"  # the first reason whole, whatever the room
    assert why({"breakdown": [{"rule_id": "cold", "points": -10}]}, 60) == ""


def test_the_last_view_written_when_the_demo_stops_renders_the_same() -> None:
    feed = busy_feed()
    again = Feed.from_snapshot(orjson.loads(orjson.dumps(feed.snapshot())))
    assert screen(again, 160, 50) == screen(feed, 160, 50)


def test_a_moved_opportunity_whose_id_prefixes_a_fired_one_is_not_taken_for_a_cut_id() -> None:
    """A demo run showed "o-31: qualification → proposal" beside a firing of o-316: the check
    took o-31 for o-316 cut short, because the moves' ids were not among the view's ids."""
    feed = busy_feed()
    feed.add("crm.trigger-firings", {"trigger_id": "proposal-reminder", "opportunity_id": "o-316",
             "stage_id": "proposal", "period": 1, "due_at": "2026-11-23T09:00:00+00:00"})  # fmt: skip
    feed.add("crm.stage-moves", {"opportunity_id": "o-31", "from_stage_id": "qualification",
             "to_stage_id": "proposal"})  # fmt: skip
    assert_fits_whole(screen(feed, 160, 50), 160, 50, feed_ids(feed), WORDS)


def test_a_pipe_gets_one_status_line_with_the_live_views_figures() -> None:
    """`dealstream demo | tee demo.log`: no terminal to redraw, so a line every 10 s carries
    the header's figures (the rate is the counter's, as on the live view)."""
    feed = Feed()
    for second in range(30):
        feed.observe(1000.0 + second, metrics(90.0 * second, lag=7))
    feed.header = {"sent": 12345, "sim_now": "2026-12-09T14:05:00+00:00", "elapsed": 64.2}
    line = status_line(feed)
    assert "\n" not in line
    assert line.startswith("simulated Wed 09 Dec 2026 14:05 · 64 s · sent 12,345 events · ")
    assert "processed 90/s (last 10 s) · input lag 7 · duplicates ignored 0" in line
