"""The scoring core: examples from sources 002/004 and hypothesis properties."""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
import pytest
from dealstream_core import Ledger
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import ContactUpserted, EngagementRecorded
from workers.rules import RulesError
from workers.rules.loader import parse_rules
from workers.scoring.conditions import MISSING
from workers.scoring.contact import (
    ContactState,
    apply_contact,
    apply_engagement,
    engagement_interaction,
    new_state,
)
from workers.scoring.engagement import CAP_ID
from workers.scoring.scorer import Scorer
from workers.scoring.stars import next_ready

RULES = """
version: s1
scoring:
  profile:
    contact:
      - {id: female, field: gender, equals: female, points: 10}
      - {id: age-20-30, field: age, range: [20, 30], points: 15}
      - {id: age-31-40, field: age, range: [31, 40], points: 5}
      - {id: greenville, field: city, in: [Greenville], points: 10}
      - {id: hot, field: lead_status, equals: Hot, points: 20}
      - {id: cold, field: lead_status, equals: Cold, points: -10}
      - {id: has-phone, field: phone, exists: true, points: 2}
      - {id: ceo, field: title, regex: "^(ceo|founder)", points: 8}
      - {id: buyer, field: title, contains: purchas, points: 6}
    organization:
      - {id: manufacturing, field: industry, equals: manufacturing, points: 20}
      - {id: mid-size, field: employees, range: [100, 500], points: 15}
  engagement:
    rules:
      - {id: open, kind: email_open, points: 1, cap: {count: 3, per: 1d}}
      - {id: demo, kind: demo_request, points: 25}
      - {id: visit, kind: page_view, points: 2}
    decay: {kind: half_life, period: 7d}
    max_total: 60
  stars: {bands: [10, 25, 40, 60, 80], grades: {A: 80, B: 60, C: 40}}
  sales_ready: {threshold: 60, hysteresis: 10}
"""
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
scorer = Scorer(parse_rules(RULES))


def contact(fields: dict[str, object], minutes: int = 0) -> ContactState:
    event = ContactUpserted(
        event_id=f"u{minutes}",
        occurred_at=T0 + dt.timedelta(minutes=minutes),
        contact_id="c1",
        fields=fields,
    )  # type: ignore[arg-type]
    state = apply_contact(new_state("c1", 0), event)
    assert state is not None
    return state


def engage(state: ContactState, kind: str, n: int, minutes: float = 0) -> ContactState:
    event = EngagementRecorded(
        event_id=f"g{n}", occurred_at=T0 + dt.timedelta(minutes=minutes), contact_id="c1", kind=kind
    )
    return apply_engagement(
        state, event, scorer.record(state.ledger, engagement_interaction(event))
    )


def test_the_ideal_consumer_profile_scores_highest_per_field() -> None:
    snap = scorer.snapshot(
        contact({"gender": "Female", "age": 27, "city": "greenville ", "lead_status": "Hot"}),
        T0.timestamp(),
    )
    assert snap.breakdown == [
        ("female", 1000),
        ("age-20-30", 1500),
        ("greenville", 1000),
        ("hot", 2000),
    ]
    assert snap.total == 5500
    assert snap.stars == 3


def test_hot_and_cold_are_rerated_at_once() -> None:
    hot = scorer.snapshot(contact({"age": 27, "lead_status": "Hot"}), T0.timestamp())
    cold = scorer.snapshot(contact({"age": 27, "lead_status": "Cold"}), T0.timestamp())
    assert hot.total - cold.total == 3000
    assert hot.stars > cold.stars


def test_organization_fit_adds_to_the_contact() -> None:
    state = msgspec.structs.replace(
        contact({"age": 27}), org_fields={"industry": "Manufacturing", "employees": "250"}
    )
    snap = scorer.snapshot(state, T0.timestamp())
    assert ("manufacturing", 2000) in snap.breakdown
    assert ("mid-size", 1500) in snap.breakdown
    assert snap.fit == 5000


def test_repeat_opens_are_capped_per_window_and_a_replay_counts_once() -> None:
    state = contact({})
    for n in range(6):
        state = engage(state, "email_open", n, minutes=n)
    state = engage(state, "email_open", 0, minutes=0)  # a replay of event g0
    assert scorer.snapshot(state, (T0 + dt.timedelta(minutes=10)).timestamp()).engagement == 300
    state = engage(state, "email_open", 99, minutes=24 * 60 + 1)  # next day: counts again
    assert len([e for e in state.ledger.entries() if e[0] == "open"]) == 4


def test_a_new_rules_version_revalues_past_engagements() -> None:
    """Issue 14.8: a kind's points raised 25 → 30 re-value the demo request already in the
    ledger; a rule removed no longer counts."""
    state = engage(contact({}), "demo_request", 1)
    at = T0.timestamp()
    assert scorer.snapshot(state, at).engagement == 2500
    raised = Scorer(parse_rules(RULES.replace("points: 25", "points: 30")))
    assert raised.snapshot(state, at).engagement == 3000
    removed = Scorer(
        parse_rules(RULES.replace("      - {id: demo, kind: demo_request, points: 25}\n", ""))
    )
    assert removed.snapshot(state, at).engagement == 0


def test_engagement_decays_with_time_and_is_capped() -> None:
    state = contact({})
    for n in range(4):
        state = engage(state, "demo_request", n)
    at0 = scorer.snapshot(state, T0.timestamp())
    assert at0.engagement == 6000
    assert at0.breakdown[-1] == (CAP_ID, -4000)
    week = scorer.snapshot(state, (T0 + dt.timedelta(days=7)).timestamp())
    assert week.engagement == 5000  # 100 halved, then no longer capped
    assert scorer.next_rescore(state, T0.timestamp()) == T0.timestamp() + 3600


def test_rules_errors_name_scoring_fields() -> None:
    bad = RULES.replace(
        '{id: ceo, field: title, regex: "^(ceo|founder)", points: 8}',
        '{id: ceo, field: title, regex: "(", points: 8}',
    )
    with pytest.raises(RulesError, match=r"\$\.scoring\.profile\.contact\[7\]"):
        parse_rules(bad)
    with pytest.raises(RulesError, match="unique"):
        parse_rules(RULES.replace("id: visit", "id: demo"))


FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "gender": st.sampled_from(["female", "male", "x"]),
        "age": st.integers(0, 90),
        "city": st.sampled_from(["Greenville", "Sofia"]),
        "lead_status": st.sampled_from(["Hot", "Cold", "Warm"]),
        "phone": st.sampled_from(["", "123"]),
        "title": st.sampled_from(["CEO", "purchasing lead", "dev"]),
    },
)
KINDS = st.lists(
    st.tuples(
        st.sampled_from(["email_open", "demo_request", "page_view", "other"]),
        st.floats(0, 60 * 24 * 30),
    ),
    max_size=30,
)


def build(fields: dict[str, object], events: list[tuple[str, float]]) -> ContactState:
    state = contact(fields)
    for n, (kind, minutes) in enumerate(events):
        state = engage(state, kind, n, minutes)
    return state


@given(FIELDS, KINDS, st.floats(0, 60 * 24 * 60))
def test_breakdown_always_sums_to_the_total(
    fields: dict[str, object], events: list[tuple[str, float]], later: float
) -> None:
    snap = scorer.snapshot(build(fields, events), (T0 + dt.timedelta(minutes=later)).timestamp())
    assert sum(c for _, c in snap.breakdown) == snap.total == snap.fit + snap.engagement
    assert 0 <= snap.stars <= 5
    assert snap.engagement <= 6000


@given(
    FIELDS,
    KINDS,
    st.sampled_from(["email_open", "demo_request", "page_view"]),
    st.floats(0, 60 * 24 * 30),
    st.floats(0, 60 * 24 * 30),
)
def test_more_points_never_lower_a_score(
    fields: dict[str, object], events: list[tuple[str, float]], kind: str, at: float, later: float
) -> None:
    now = (T0 + dt.timedelta(minutes=max(later, at))).timestamp()
    before = build(fields, events)
    after = engage(before, kind, 10_000, at)
    assert scorer.snapshot(after, now).total >= scorer.snapshot(before, now).total


@given(FIELDS, KINDS, st.floats(0, 60 * 24 * 30), st.floats(0, 60 * 24 * 30))
def test_decay_never_raises_engagement_over_time(
    fields: dict[str, object], events: list[tuple[str, float]], a: float, b: float
) -> None:
    state = build(fields, events)
    last = max([m for _, m in events], default=0.0)
    early, late = sorted((last + a, last + b))
    assert (
        scorer.snapshot(state, (T0 + dt.timedelta(minutes=late)).timestamp()).engagement
        <= scorer.snapshot(state, (T0 + dt.timedelta(minutes=early)).timestamp()).engagement
    )


@given(
    st.lists(st.integers(-2000, 10_000), max_size=100), st.integers(0, 8000), st.integers(0, 3000)
)
def test_hysteresis_never_flaps(totals: list[int], threshold: int, hysteresis: int) -> None:
    ready, changes = False, []
    for total in totals:
        now = next_ready(ready, total, threshold, hysteresis)
        if now != ready:
            changes.append((now, total))
        ready = now
    for entered, total in changes:
        assert total >= threshold if entered else total < threshold - hysteresis
    # between two changes the total crossed the whole hysteresis band
    for (first, _), (second, _) in itertools.pairwise(changes):
        assert first != second


@given(FIELDS, KINDS, st.lists(st.floats(1, 60 * 24), min_size=1, max_size=40))
def test_a_decaying_score_is_published_only_when_it_means_something_new(
    fields: dict[str, object], events: list[tuple[str, float]], steps: list[float]
) -> None:
    """Re-scores as time passes publish only when the total rounded to the resolution (1
    point), the stars, the grade or sales-ready changed, compared with the last *published*
    score: a slow decay publishes once its steps add up, not at every re-score (issue 17)."""
    state = build(fields, events)
    now = (T0 + dt.timedelta(minutes=max([m for _, m in events], default=0.0))).timestamp()
    state = scorer.rescore(state, now).state
    for step in steps:
        now += step * 60
        published = state.last
        snap = scorer.snapshot(state, now)  # the score now, published or not
        result = scorer.rescore(state, now)
        assert published is not None
        key = (round(snap.total / 100), snap.stars, snap.ready, snap.grade)
        old = (round(published.total / 100), published.stars, published.ready, published.grade)
        assert result.changed == (key != old)
        assert result.snapshot == (snap if result.changed else None)
        assert result.state.last == (snap if result.changed else published)
        state = result.state


def test_decay_publishes_far_fewer_scores_at_a_coarser_resolution() -> None:
    coarse = Scorer(
        parse_rules(RULES.replace("sales_ready:", "publish_resolution: 5\n  sales_ready:"))
    )
    counts = []
    for s in (scorer, coarse):
        state = engage(engage(contact({}), "demo_request", 1), "demo_request", 2)
        published = 0
        for hour in range(0, 24 * 28, 6):  # four weeks of 6-hourly re-scores
            result = s.rescore(state, (T0 + dt.timedelta(hours=hour)).timestamp())
            published += result.changed
            state = result.state
        counts.append(published)
    assert counts[0] <= 50  # 50 points decaying to ~3: about one record per point lost
    assert counts[1] * 3 < counts[0]


def test_a_new_rules_version_that_changes_nothing_worth_publishing_is_recorded() -> None:
    state = scorer.rescore(engage(contact({}), "demo_request", 1), T0.timestamp()).state
    renamed = Scorer(parse_rules(RULES.replace("version: s1", "version: s2")))
    result = renamed.rescore(state, T0.timestamp())
    assert not result.changed
    assert result.state.last is not None
    assert result.state.last.rules_version == "s2"
    assert renamed.next_rescore(result.state, T0.timestamp()) != T0.timestamp()  # not again


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 600),
    st.floats(allow_nan=True),
    st.sampled_from(["female", " Female ", "Hot", "cold", "CEO of x", "purchasing", "", "25"]),
)


@given(st.lists(st.dictionaries(st.sampled_from(["gender", "age", "city", "lead_status", "phone", "title", "x"]), SCALARS), max_size=8))  # fmt: skip
def test_remembered_profile_points_equal_the_conditions_asked_afresh(
    contacts: list[dict[str, object]],
) -> None:
    """The profile scorer remembers each field's best rule per (type, value): what it answers
    is what the rules answer (1, 1.0 and True stay apart; NaN is never equal to itself)."""
    profile = Scorer(parse_rules(RULES)).contact
    for fields in [*contacts, *contacts]:  # the second pass is answered from memory
        fresh = []
        for field, rules in profile.by_field.items():
            matching = [r for r in rules if r.matches(fields.get(field, MISSING))]
            if matching:
                best = max(matching, key=lambda r: r.cents)
                fresh.append((best.id, best.cents))
        assert profile.contributions(fields) == fresh  # type: ignore[arg-type]


def test_a_score_names_the_input_given_else_the_last_applied_else_the_last_engagement() -> None:
    state = engage(contact({}), "demo_request", 7)  # the ledger's last event: g7
    assert state.cause() == "g7"  # no input applied yet names the last engagement
    named = msgspec.structs.replace(state, cause_event_id="u0")
    assert named.cause() == "u0"
    assert named.cause("e9") == "e9"  # as if e9 were the last one applied
    assert named.cause("") == "g7"  # an empty id names nothing: the ledger's does
    assert msgspec.structs.replace(state, ledger=Ledger()).cause() == "contact:c1"
