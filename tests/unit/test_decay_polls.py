"""Decay re-scores that provably publish nothing are skipped (`Scorer.next_rescore` given the
re-score's snapshot): the scores published, and when, are those of a re-score every interval."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import ContactUpserted, EngagementRecorded
from workers.rules.loader import parse_rules
from workers.scoring.contact import (
    ContactState,
    Snapshot,
    apply_contact,
    apply_engagement,
    engagement_interaction,
    new_state,
)
from workers.scoring.scorer import Rescore, Scorer
from workers.scoring.stars import next_ready

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
HOUR = 3600.0


def scorer_for(resolution: float, cap: str, open_points: float, stars: str) -> Scorer:
    return Scorer(
        parse_rules(f"""
version: polls
scoring:
  profile:
    contact:
      - {{id: hot, field: lead_status, equals: Hot, points: 20}}
      - {{id: warm, field: lead_status, equals: Warm, points: 7.5}}
  engagement:
    rules:
      - {{id: open, kind: email_open, points: {open_points}, cap: {{count: 3, per: 1d}}}}
      - {{id: demo, kind: demo_request, points: 25}}
      - {{id: visit, kind: page_view, points: 2.5}}
    decay: {{kind: half_life, period: 2d}}
    {cap}
  stars: {stars}
  sales_ready: {{threshold: 40, hysteresis: 10}}
  rescore_interval: 6h
  publish_resolution: {resolution}
""")
    )


scorers = st.builds(
    scorer_for,
    st.sampled_from([0.01, 1, 5]),
    st.sampled_from(["", "max_total: 30"]),
    st.sampled_from([1, 0.25, 0]),
    st.sampled_from(
        ["{bands: [10, 25, 40, 60, 80], grades: {A: 50, B: 30, C: 12.5}}", "{ideal: 70}"]
    ),
)
history = st.lists(
    st.tuples(
        st.sampled_from(["email_open", "email_open", "page_view", "demo_request"]),
        st.integers(min_value=0, max_value=72 * 60),  # minutes
    ),
    max_size=25,
)
Published = list[tuple[float, Snapshot]]


def scored(scorer: Scorer, status: str | None, events: list[tuple[str, int]]) -> Rescore:
    upsert = ContactUpserted(
        event_id="u", occurred_at=T0, contact_id="c1", fields={"lead_status": status}
    )  # type: ignore[arg-type]
    state = apply_contact(new_state("c1", 0), upsert)
    assert state is not None
    result = scorer.rescore(state, T0.timestamp())
    for n, (kind, minutes) in enumerate(sorted(events, key=lambda e: e[1])):
        at = T0 + dt.timedelta(minutes=minutes)
        event = EngagementRecorded(event_id=f"g{n}", occurred_at=at, contact_id="c1", kind=kind)
        ledger = scorer.record(result.state.ledger, engagement_interaction(event))
        state = apply_engagement(result.state, event, ledger)
        result = scorer.rescore(state, at.timestamp())
    return result


def polls(
    scorer: Scorer, state: ContactState, snap: Snapshot, now: float, end: float, skip: bool
) -> tuple[Published, int]:
    """The scores published by decay re-scores from `now` to `end`, and how many ran."""
    published: Published = []
    runs = 0
    due = scorer.next_rescore(state, now, snap if skip else None)
    while due is not None and due <= end:
        snap = scorer.snapshot(state, due)  # the re-score's score (it has one when published)
        result = scorer.rescore(state, due)
        runs += 1
        if result.changed:
            assert result.snapshot == snap
            published.append((due, snap))
        state = result.state
        due = scorer.next_rescore(state, due, snap if skip else None)
    return published, runs


@settings(max_examples=200, deadline=None)
@given(scorer=scorers, status=st.sampled_from([None, "Hot", "Warm"]), events=history)
def test_skipped_decay_rescores_publish_what_every_interval_would(
    scorer: Scorer, status: str | None, events: list[tuple[str, int]]
) -> None:
    result = scored(scorer, status, events)
    now = (T0 + dt.timedelta(minutes=max([m for _, m in events], default=0))).timestamp()
    end = now + 40 * 24 * HOUR
    snap = scorer.snapshot(result.state, now)
    every, runs = polls(scorer, result.state, snap, now, end, skip=False)
    skipping, skipped_runs = polls(scorer, result.state, snap, now, end, skip=True)
    assert skipping == every
    assert skipped_runs <= runs


def test_a_decaying_score_is_rescored_only_when_it_may_publish() -> None:
    scorer = scorer_for(1, "", 1, "{bands: [10, 25, 40, 60, 80]}")
    result = scored(scorer, None, [("demo_request", 0)])  # 25 points, halved every 2 days
    now = T0.timestamp()
    snap = scorer.snapshot(result.state, now)
    every, runs = polls(scorer, result.state, snap, now, now + 40 * 24 * HOUR, False)
    skipping, skipped = polls(scorer, result.state, snap, now, now + 40 * 24 * HOUR, True)
    assert skipping == every
    assert [s.total for _, s in every][:3] == [2293, 2102, 1928]  # a point or more each time
    assert [round((t - now) / HOUR) for t, _ in every][-4:] == [138, 162, 198, 276]
    # every 6 hours for 40 days, against those that may publish: 20 do, 2 more were near
    assert (runs, skipped, len(every)) == (160, 22, 20)
    # nothing left to publish once the points round to less than half a point: no re-score
    at = every[-1][0]
    last_state = scorer.rescore(result.state, at)
    assert round(every[-1][1].total / 100) == 0
    assert scorer.next_rescore(last_state.state, at, scorer.snapshot(result.state, at)) is None


def lowest_plain(scorer: Scorer, last: Snapshot, snap: Snapshot) -> int | None:
    """The bottom of the totals that publish nothing new against `last`, one cent at a time."""
    published = last.key(scorer.resolution)

    def same(total: int) -> bool:
        ready = next_ready(last.ready, total, scorer.threshold, scorer.hysteresis)
        rater = scorer.rater
        alike = Snapshot(0, 0, total, rater.stars(total), rater.grade(total), ready, [], "")
        return alike.key(scorer.resolution) == published

    total = snap.total
    while total > snap.fit and same(total - 1):
        total -= 1
    return None if total - 1 < snap.fit or same(snap.fit) else total


@settings(max_examples=300, deadline=None)
@given(
    scorer=scorers,
    fit=st.integers(-1500, 3000),
    engagement=st.integers(0, 9000),
    was_ready=st.booleans(),
)
def test_the_lowest_unpublished_total_is_the_plain_one(
    scorer: Scorer, fit: int, engagement: int, was_ready: bool
) -> None:
    total = fit + engagement
    rater = scorer.rater
    ready = next_ready(was_ready, total, scorer.threshold, scorer.hysteresis)
    snap = Snapshot(fit, engagement, total, rater.stars(total), rater.grade(total), ready, [], "")
    assert scorer._lowest_total(snap, snap) == lowest_plain(scorer, snap, snap)
