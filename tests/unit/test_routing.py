"""The routing core: eligibility, strategies and capacity, with hypothesis properties."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from schemas.records import Capacity, Interval, RepDeleted, RepUpserted, TimeRange
from workers.routing.choose import (
    AT_CAPACITY,
    NO_REP,
    NONE_AVAILABLE,
    at_capacity,
    available,
    choose,
)
from workers.routing.roster import Rep, apply_rep_event, record_assignment

MONDAY_10 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC).timestamp()


def rep(rep_id: str, **kw: object) -> Rep:
    return Rep(rep_id=rep_id, **{"product_lines": ["crm"], **kw})  # type: ignore[arg-type]


def test_reasons_when_nobody_is_eligible() -> None:
    assert (
        choose([rep("a", product_lines=["erp"])], "crm", MONDAY_10, strategy="round_robin").code
        == NO_REP
    )
    full = rep("a", per_day=1, assigned_day=1, day="2026-11-02")
    assert choose([full], "crm", MONDAY_10, strategy="round_robin").code == AT_CAPACITY
    away = rep("a", out_of_office=[(MONDAY_10 - 10, MONDAY_10 + 10)])
    assert choose([away], "crm", MONDAY_10, strategy="round_robin").code == NONE_AVAILABLE
    assert choose([rep("a", active=False)], "crm", MONDAY_10, strategy="round_robin").code == NO_REP


def test_working_hours_in_the_reps_time_zone_and_daily_capacity_resets_at_local_midnight() -> None:
    tallinn = rep("a", timezone="Europe/Tallinn", working_hours={"mon": [("09:00", "17:00")]})
    assert tallinn.in_hours(MONDAY_10)  # 12:00 in Tallinn
    assert not tallinn.in_hours(MONDAY_10 + 6 * 3600)  # 18:00 in Tallinn
    assert (
        choose(
            [tallinn], "crm", MONDAY_10 + 6 * 3600, strategy="round_robin", ignore_hours=True
        ).rep_id
        == "a"
    )
    full = record_assignment(rep("a", timezone="Europe/Tallinn", per_day=1), MONDAY_10, 1)
    assert at_capacity(full.counters_at(MONDAY_10))
    assert not at_capacity(full.counters_at(MONDAY_10 + 12 * 3600))  # after midnight in Tallinn


def test_roster_events_build_reps_and_a_deleted_rep_is_never_chosen() -> None:
    at = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    up = RepUpserted(
        event_id="r1",
        occurred_at=at,
        rep_id="a",
        product_lines=["crm"],
        active=True,
        timezone="Europe/Tallinn",
        working_hours={"mon": [TimeRange("09:00", "17:00")]},
        out_of_office=[Interval(at, at + dt.timedelta(hours=1))],
        capacity=Capacity(per_day=5, open_leads=3),
        weight=2.0,
    )
    a = apply_rep_event(None, up)
    assert a is not None
    assert (a.per_day, a.open_limit, a.weight, a.working_hours) == (
        5,
        3,
        2.0,
        {"mon": [("09:00", "17:00")]},
    )
    gone = apply_rep_event(
        a, RepDeleted(event_id="r2", occurred_at=at + dt.timedelta(minutes=1), rep_id="a")
    )
    assert gone is not None
    assert choose([gone], "crm", MONDAY_10, strategy="round_robin").rep_id is None
    assert apply_rep_event(gone, up) is None  # older than the state


def assign_many(reps: list[Rep], n: int, strategy: str, now: float = MONDAY_10) -> Counter[str]:
    by_id = {r.rep_id: r for r in reps}
    counts: Counter[str] = Counter()
    for seq in range(1, n + 1):
        choice = choose(by_id.values(), "crm", now, strategy=strategy)
        if choice.rep_id is None:
            break
        by_id[choice.rep_id] = record_assignment(by_id[choice.rep_id], now, seq)
        counts[choice.rep_id] += 1
    return counts


@given(st.integers(1, 8), st.integers(0, 200))
def test_round_robin_keeps_every_count_within_one(n_reps: int, leads: int) -> None:
    counts = assign_many([rep(f"r{i}") for i in range(n_reps)], leads, "round_robin")
    values = [counts[f"r{i}"] for i in range(n_reps)]
    assert max(values) - min(values) <= 1


@given(st.lists(st.integers(1, 5), min_size=1, max_size=5))
def test_weighted_shares_converge_to_the_weights(weights: list[int]) -> None:
    reps = [rep(f"r{i}", weight=float(w)) for i, w in enumerate(weights)]
    total = 100 * sum(weights)
    counts = assign_many(reps, total, "weighted")
    for i, w in enumerate(weights):
        assert abs(counts[f"r{i}"] - 100 * w) <= 1


reps_strategy = st.lists(
    st.builds(
        lambda i, lines, active, ooo, per_day, open_limit, opened: Rep(
            rep_id=f"r{i}",
            product_lines=lines,
            active=active,
            out_of_office=[(MONDAY_10 - 1, MONDAY_10 + 1)] if ooo else [],
            per_day=per_day,
            open_limit=open_limit,
            open_leads=opened,
        ),
        st.integers(0, 1000),
        st.lists(st.sampled_from(["crm", "erp"]), max_size=2, unique=True),
        st.booleans(),
        st.booleans(),
        st.none() | st.integers(0, 3),
        st.none() | st.integers(0, 3),
        st.integers(0, 4),
    ),
    max_size=6,
    unique_by=lambda r: r.rep_id,
)


@given(
    reps_strategy, st.sampled_from(["round_robin", "load_balanced", "weighted"]), st.integers(1, 30)
)
def test_capacity_is_never_exceeded_and_an_ineligible_rep_is_never_chosen(
    reps: list[Rep], strategy: str, leads: int
) -> None:
    by_id = {r.rep_id: r for r in reps}
    given_now: Counter[str] = Counter()
    for seq in range(1, leads + 1):
        choice = choose(by_id.values(), "crm", MONDAY_10, strategy=strategy)
        if choice.rep_id is None:
            assert choice.code in (NO_REP, AT_CAPACITY, NONE_AVAILABLE)
            break
        chosen = by_id[choice.rep_id].counters_at(MONDAY_10)
        assert "crm" in chosen.product_lines
        assert available(chosen, MONDAY_10, ignore_hours=False)
        assert not at_capacity(chosen)
        assert choice.rep_id in choice.candidates
        by_id[choice.rep_id] = record_assignment(chosen, MONDAY_10, seq)
        given_now[choice.rep_id] += 1
    for original in reps:
        n = given_now[original.rep_id]
        if original.per_day is not None:
            assert n <= original.per_day
        if original.open_limit is not None and n:
            assert original.open_leads + n <= original.open_limit


HHMM = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 59])
)


@given(
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    days=st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), max_size=7),
    ranges=st.lists(st.tuples(HHMM, HHMM).map(sorted), max_size=2),
    away=st.lists(st.tuples(st.integers(0, 20 * 86400), st.integers(60, 5 * 86400)), max_size=2),
    offset=st.integers(0, 400 * 86400),  # over a year: both changes of daylight saving time
)  # fmt: skip
def test_nothing_a_rep_can_take_changes_before_their_next_change(
    zone: str, days: set[str], ranges: list[list[str]], away: list[tuple[int, int]], offset: int
) -> None:
    """`Rep.next_change`: between now and then, whether the rep works, is away, and their
    local day and month (the counters' reset) stay as they are; at it, one of them may change."""
    start = MONDAY_10 - 30 * 86400
    hours = {d: [(a, b) for a, b in ranges] for d in days} if days else None
    r = rep("a", timezone=zone, working_hours=hours,
            out_of_office=[(start + a, start + a + n) for a, n in away])  # fmt: skip
    now = start + offset + 17.5

    def state(t: float) -> tuple[object, ...]:
        counters = r.counters_at(t)
        return (r.in_hours(t), r.out_of_office_at(t), counters.day, counters.month)

    due = r.next_change(now)
    assert now < due <= now + 86400 + 3600
    before = state(now)
    for k in range(1, 40):
        assert state(now + (due - now) * k / 40) == before
    assert state(due - 0.001) == before
