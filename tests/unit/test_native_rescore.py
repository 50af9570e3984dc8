"""The native re-score (`Scorer.rescore`, one call into workers/native) against its reference,
`Scorer.snapshot` and `Scorer.next_rescore`: on random rules and histories it gives the same
snapshot, the same decision to publish, the same pruned ledger and the same next re-score. An
engagement applied and re-scored in one call (`Scorer.engage`) gives what its reference gives."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.records import ContactDeleted, ContactUpserted, EngagementRecorded
from workers.rules.loader import parse_rules
from workers.scoring.contact import (
    ContactState,
    apply_contact,
    apply_engagement,
    engagement_interaction,
    interest,
    new_state,
)
from workers.scoring.scorer import Scorer

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
HOUR = 3600.0


def scorer_for(resolution: float, cap: str, decay: str, stars: str, ready: str) -> Scorer:
    return Scorer(
        parse_rules(f"""
version: native
engagement_kinds: [unsubscribe]
scoring:
  profile:
    contact:
      - {{id: hot, field: lead_status, equals: Hot, points: 20}}
      - {{id: warm, field: lead_status, equals: Warm, points: 7.5}}
      - {{id: cold, field: lead_status, equals: Cold, points: -10}}
  engagement:
    rules:
      - {{id: open, kind: email_open, points: 1, cap: {{count: 3, per: 1d}}}}
      - {{id: demo, kind: demo_request, points: 25}}
      - {{id: visit, kind: page_view, points: 2.5}}
      - {{id: unsubscribe, kind: unsubscribe, points: -15}}
    decay: {decay}
    {cap}
  stars: {stars}
  sales_ready: {ready}
  rescore_interval: 6h
  publish_resolution: {resolution}
""")
    )


scorers = st.builds(
    scorer_for,
    st.sampled_from([0.01, 1, 5]),
    st.sampled_from(["", "max_total: 30"]),
    st.sampled_from(
        [
            "{kind: half_life, period: 2d}",
            "{kind: half_life, period: 14d}",
            "{kind: linear, period: 3d}",
            "{kind: expire, period: 2d}",
            "{kind: none}",
        ]
    ),
    st.sampled_from(
        [
            "{bands: [10, 25, 40, 60, 80], grades: {A: 50, B: 30, C: 12.5}}",
            "{ideal: 70}",
            "{ideal: 33.3, grades: {A: 20}}",
        ]
    ),
    st.sampled_from(["{threshold: 40, hysteresis: 10}", "{threshold: 25, hysteresis: 0}"]),
)
history = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "email_open",
                "email_open",
                "demo_request",
                "page_view",
                "unsubscribe",
                "Hot",
                "Warm",
                "Cold",
                "deleted",
            ]
        ),
        st.integers(min_value=0, max_value=10 * 24 * 60),  # minutes from the start
        st.integers(min_value=0, max_value=12 * 60),  # minutes later, the re-score
    ),
    min_size=1,
    max_size=40,
)


def applied(
    state: ContactState, what: str, at: dt.datetime, n: int, scorer: Scorer
) -> ContactState:
    if what == "deleted":
        return (
            apply_contact(state, ContactDeleted(event_id=f"d{n}", occurred_at=at, contact_id="c1"))
            or state
        )
    if what in ("Hot", "Warm", "Cold"):
        event = ContactUpserted(
            event_id=f"u{n}", occurred_at=at, contact_id="c1", fields={"lead_status": what}
        )
        return apply_contact(state, event) or state
    engagement = EngagementRecorded(event_id=f"g{n}", occurred_at=at, contact_id="c1", kind=what)
    return apply_engagement(
        state, engagement, scorer.record(state.ledger, engagement_interaction(engagement))
    )


@settings(max_examples=300, deadline=None)
@given(scorer=scorers, events=history)
def test_the_native_rescore_equals_its_reference(
    scorer: Scorer, events: list[tuple[str, int, int]]
) -> None:
    state = new_state("c1", 0)
    for n, (what, minutes, later) in enumerate(sorted(events, key=lambda e: e[1])):
        at = T0 + dt.timedelta(minutes=minutes)
        state = applied(state, what, at, n, scorer)
        now = (at + dt.timedelta(minutes=later)).timestamp()
        snapshot = scorer.snapshot(state, now)
        result = scorer.rescore(state, now)
        assert result.snapshot == (snapshot if result.changed else None)
        assert result.changed == snapshot.worth_publishing(state.last, scorer.resolution)
        assert result.became_ready == (snapshot.ready and not state.ready)
        assert result.state.ledger == scorer.ledgers.prune(state.ledger, now)
        assert result.state.last == (snapshot if result.changed else state.last)
        assert result.due == scorer.next_rescore(result.state, now, snapshot)
        assert result.state.scores == state.scores + (1 if result.changed else 0)
        assert result.state.cause_event_id == state.cause_event_id  # no cause given: kept
        assert scorer.rescore(state, now, f"e-{n}").state.cause_event_id == f"e-{n}"
        state = result.state


@settings(max_examples=200, deadline=None)
@given(scorer=scorers, events=history, lines=st.lists(st.sampled_from([None, "crm", "ads"])))
def test_an_engagement_applied_in_the_rescore_copy_is_the_same_state(
    scorer: Scorer, events: list[tuple[str, int, int]], lines: list[str | None]
) -> None:
    """The contacts engine applies an engagement (its recorded ledger and its interest) in the
    one copy of the state its re-score makes (`engaged`): the same re-score, the same state,
    as `apply_engagement` and then `rescore`."""
    state = new_state("c1", 0)
    for n, (what, minutes, later) in enumerate(sorted(events, key=lambda e: e[1])):
        at = T0 + dt.timedelta(minutes=minutes)
        now = (at + dt.timedelta(minutes=later)).timestamp()
        if what in ("deleted", "Hot", "Warm", "Cold"):
            state = scorer.rescore(applied(state, what, at, n, scorer), now).state
            continue
        line = lines[n % len(lines)] if lines else None
        e = EngagementRecorded(
            event_id=f"g{n}", occurred_at=at, contact_id="c1", kind=what, product_line=line
        )
        ledger = scorer.record(state.ledger, engagement_interaction(e))
        expected = scorer.rescore(apply_engagement(state, e, ledger), now, e.event_id)
        engaged = (ledger, *interest(state, line, at.timestamp()))
        got = scorer.rescore(state, now, e.event_id, engaged)
        assert got == expected
        state = got.state


@settings(max_examples=200, deadline=None)
@given(
    scorer=scorers,
    events=history,
    lines=st.lists(st.sampled_from([None, "crm", "ads"])),
    sources=st.lists(st.sampled_from([None, "web", "email"])),
)
def test_an_engagement_in_one_native_call_is_the_reference_rescore(
    scorer: Scorer,
    events: list[tuple[str, int, int]],
    lines: list[str | None],
    sources: list[str | None],
) -> None:
    """`Scorer.engage` (the ledger recorded, the interest and the re-score in one native call)
    gives the `Rescore` its reference gives: `rescore` with `engaged` made of `record` and
    `interest`, from the same state; also when the last score published is of another rules
    version (the contact scored by a scorer of another version first)."""
    other = Scorer(
        parse_rules("version: other\nscoring: {profile: {contact: []}, engagement: {rules: []}}\n")
    )
    state = new_state("c1", 0)
    for n, (what, minutes, later) in enumerate(sorted(events, key=lambda e: e[1])):
        at = T0 + dt.timedelta(minutes=minutes)
        now = (at + dt.timedelta(minutes=later)).timestamp()
        if what in ("deleted", "Hot", "Warm", "Cold"):
            rescorer = other if what == "Cold" else scorer  # a score of another version
            state = rescorer.rescore(applied(state, what, at, n, scorer), now).state
            continue
        line = lines[n % len(lines)] if lines else None
        source = sources[n % len(sources)] if sources else None
        e = EngagementRecorded(
            event_id=f"g{n}",
            occurred_at=at,
            contact_id="c1",
            kind=what,
            product_line=line,
            source=source,
        )
        ledger = scorer.record(state.ledger, engagement_interaction(e))
        expected = scorer.rescore(
            state, now, e.event_id, (ledger, *interest(state, line, at.timestamp()))
        )
        before = [*msgspec.structs.astuple(state), [*state.product_lines]]
        got = scorer.engage(state, now, e.event_id, e.kind, at.timestamp(), source, line)
        assert got == expected
        assert type(got.state) is ContactState
        assert got.state is not state  # a copy: the state before stays as it was
        assert [*msgspec.structs.astuple(state), [*state.product_lines]] == before
        state = got.state
