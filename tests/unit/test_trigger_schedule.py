"""Schedule math of time-in-stage triggers, with hypothesis properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from workers.triggers.calendar import BusinessDays, Calendar, CalendarDays
from workers.triggers.durations import parse_duration
from workers.triggers.errors import TriggerConfigError
from workers.triggers.plan import Trigger
from workers.triggers.schedule import MAX_PER_DECISION, Mark, decide, last_period_due_by

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def trigger(every: float, calendar: Calendar | None = None, **kw: object) -> Trigger:
    return Trigger(
        id="t",
        pipeline="*",
        stage="s",
        every=every,
        action={"type": "x"},
        calendar=calendar or CalendarDays(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10d", 864000),
        ("12h", 43200),
        ("90s", 90),
        ("1d12h", 129600),
        ("500ms", 0.5),
        ("P10D", 864000),
        ("PT12H", 43200),
        ("P1DT30M", 88200),
        ("2w", 1209600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "ten days", "P", "PT", "0s", "P0D", "-1d", "10x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TriggerConfigError):
        parse_duration(text)


def test_zero_is_a_duration_only_where_allowed() -> None:
    assert parse_duration("0s", zero=True) == parse_duration("PT0S", zero=True) == 0.0
    for bad in ("-1s", "soon", ""):
        with pytest.raises(TriggerConfigError):
            parse_duration(bad, zero=True)


def test_period_k_is_due_at_entry_plus_k_times_every() -> None:
    t = trigger(10 * 86400)
    assert [t.due_at(T0, k) for k in (1, 2, 3)] == [
        T0 + dt.timedelta(days=10 * k) for k in (1, 2, 3)
    ]


def test_business_days_skip_weekends_and_holidays_in_the_calendars_zone() -> None:
    cal = BusinessDays.create(
        ["mon", "tue", "wed", "thu", "fri"], [dt.date(2026, 12, 25)], "Europe/Bucharest"
    )
    friday_3pm_local = dt.datetime(2026, 12, 18, 13, 0, tzinfo=UTC)
    # 9 h left on Friday, 9 working days to Jan 1 (the 25th is a holiday), 15 h on Monday Jan 4
    assert cal.add(friday_3pm_local, 10 * 86400) == dt.datetime(2027, 1, 4, 13, 0, tzinfo=UTC)
    saturday = dt.datetime(2026, 11, 7, 12, 0, tzinfo=UTC)
    assert cal.add(saturday, 3600) == dt.datetime(2026, 11, 8, 23, 0, tzinfo=UTC)  # Mon 01:00 local


def test_bad_calendar() -> None:
    with pytest.raises(TriggerConfigError):
        BusinessDays.create(["mon"], [], "Mars/Olympus")
    with pytest.raises(TriggerConfigError):
        BusinessDays.create([], [], "UTC")


calendars = st.one_of(
    st.just(CalendarDays()),
    st.builds(
        lambda days, zone, hol: BusinessDays.create(days, hol, zone),
        st.lists(
            st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            min_size=1,
            unique=True,
        ),
        st.sampled_from(["UTC", "Europe/Bucharest", "America/New_York", "Asia/Kolkata"]),
        st.lists(st.dates(dt.date(2026, 11, 1), dt.date(2027, 3, 1)), max_size=5),
    ),
)
entries = st.datetimes(dt.datetime(2026, 11, 1), dt.datetime(2027, 1, 1), timezones=st.just(UTC))


@given(calendars, st.lists(st.tuples(entries, st.integers(1, 10_000_000)), min_size=1, max_size=6))
def test_a_business_calendar_remembers_day_bounds_without_changing_an_answer(
    cal: Calendar, adds: list[tuple[dt.datetime, int]]
) -> None:
    assume(isinstance(cal, BusinessDays))
    assert isinstance(cal, BusinessDays)
    for start, seconds in adds:  # one calendar warms up; a fresh one computes every day
        fresh = BusinessDays(cal.weekdays, cal.holidays, cal.zone)
        answer = fresh.add(start, seconds)
        assert cal.add(start, seconds) == answer
        assert cal.add(start, seconds) == answer  # remembered
        local = start.astimezone(cal.zone)  # the same instant elsewhere: its own answer
        assert cal.add(local, seconds).tzinfo == fresh.add(local, seconds).tzinfo


def test_a_full_day_memory_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.triggers.calendar.MEMO_DAYS", 3)
    monkeypatch.setattr("workers.triggers.calendar.MEMO_ADDS", 2)
    cal = BusinessDays.create(["mon", "tue", "wed", "thu", "fri"], [], "America/New_York")
    start = dt.datetime(2026, 10, 28, 15, tzinfo=UTC)  # DST ends on 2026-11-01 there
    fresh = BusinessDays.create(["mon", "tue", "wed", "thu", "fri"], [], "America/New_York")
    for days in range(1, 12):
        assert cal.add(start, days * 86400.0) == fresh.add(start, days * 86400.0)
        assert len(cal._days) <= 3
        assert len(cal._added) <= 2


@given(calendars, entries, st.integers(1, 10_000_000), st.integers(1, 5_000_000))
def test_business_add_is_monotonic_and_counts_exactly(
    cal: Calendar, start: dt.datetime, a: int, b: int
) -> None:
    first = cal.add(start, a)
    later = cal.add(start, a + b)
    assert start <= first < later
    if isinstance(cal, BusinessDays):
        assert abs(cal.counted_seconds(start, first) - a) < 1e-3
        assert abs(cal.counted_seconds(first, later) - b) < 1e-3


@given(
    calendars,
    entries,
    st.sampled_from([3600.0, 4 * 3600.0, 86400.0, 2.5 * 86400.0, 7 * 86400.0]),
    st.integers(0, 60 * 86400),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40),
    st.sampled_from(["all", "latest", "none"]),
    st.none() | st.integers(1, 6),
)
def test_fired_periods_are_exactly_those_due_before_the_exit(
    cal: Calendar,
    entered: dt.datetime,
    every: float,
    stay: int,
    tick_fractions: list[float],
    catch_up: str,
    cap: int | None,
) -> None:
    """With the worker up (ticks closer together than `every` and than the grace), every
    catch-up rule fires periods 1..K exactly once, in order, K being the last due before exit."""
    t = trigger(every, cal, catch_up=catch_up, max_firings=cap)
    exit_at = entered + dt.timedelta(seconds=stay)
    grace = every
    # ticks: spread so that consecutive ticks are less than `every` (and the grace) apart
    n = max(2, int(stay / every * 2) + 2)
    assume(n <= 2000)
    ticks = [entered + dt.timedelta(seconds=stay * i / n) for i in range(1, n)]
    ticks += [exit_at - dt.timedelta(microseconds=1)]
    ticks += [exit_at - dt.timedelta(seconds=stay * f / n) for f in tick_fractions]
    ticks = sorted(x for x in ticks if entered <= x < exit_at)
    fired: list[int] = []
    mark: Mark | None = None
    for now in ticks:
        decision = decide(t, entered, mark, now, grace)
        fired += [d.period for d in decision.fire]
        mark = decision.mark or mark
    expected_last = last_period_due_by(
        t, entered, (exit_at - dt.timedelta(microseconds=1)).timestamp()
    )
    if cap is not None:
        expected_last = min(expected_last, cap)
    assert fired == list(range(1, expected_last + 1))


@given(
    calendars,
    entries,
    st.floats(60, 10 * 86400),
    st.floats(0, 40 * 86400),
    st.sampled_from(["all", "latest", "none"]),
)
def test_after_a_gap_catch_up_rules(
    cal: Calendar, entered: dt.datetime, every: float, gap: float, rule: str
) -> None:
    t = trigger(every, cal, catch_up=rule)
    now = entered + dt.timedelta(seconds=gap)
    grace = 30.0
    due = last_period_due_by(t, entered, now.timestamp())
    periods: list[int] = []
    skipped = 0
    mark = None
    for _ in range(due // MAX_PER_DECISION + 2):  # a long catch-up comes in chunks, tick by tick
        decision = decide(t, entered, mark, now, grace)
        assert len(decision.fire) <= MAX_PER_DECISION
        periods += [d.period for d in decision.fire]
        skipped += decision.skipped
        if decision.mark is None or decision.mark == mark:
            break
        mark = decision.mark
    assert skipped == due - len(periods)
    if rule == "all":
        assert periods == list(range(1, due + 1))
    elif rule == "latest":
        assert periods == ([due] if due else [])
    else:
        assert all((now - t.due_at(entered, k)).total_seconds() <= grace for k in periods)
    if due:
        assert mark is not None
        assert mark.through == due
    assert decision.next_due == t.due_at(entered, due + 1)


def test_changed_every_replans_from_the_visit_start_without_refiring() -> None:
    old = trigger(10 * 86400)
    first = decide(old, T0, None, T0 + dt.timedelta(days=21), 60)
    assert [d.period for d in first.fire] == [2]  # latest: period 2 (day 20)
    new = trigger(4 * 86400)
    assert new.plan != old.plan
    again = decide(new, T0, first.mark, T0 + dt.timedelta(days=21), 60)
    assert again.fire == ()  # day 4, 8, ..., 20 are not after day 20: nothing re-fires
    later = decide(new, T0, first.mark, T0 + dt.timedelta(days=24, seconds=1), 60)
    assert [d.period for d in later.fire] == [6]  # day 24
    assert later.next_due == T0 + dt.timedelta(days=28)


def test_max_firings_caps_the_periods() -> None:
    t = trigger(86400, max_firings=2, catch_up="all")
    decision = decide(t, T0, None, T0 + dt.timedelta(days=5), 60)
    assert [d.period for d in decision.fire] == [1, 2]
    assert decision.next_due is None
    assert decide(t, T0, decision.mark, T0 + dt.timedelta(days=9), 60).fire == ()
