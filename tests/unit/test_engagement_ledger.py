"""The engagement ledger's fast paths equal the plain definitions they replace: a ledger kept
in order of time lets `record` place and cap from the newest entry back, `prune` and
`next_change` look at its ends, `contributions` decays inline, and half-life decay sums kept
with the ledger give its points with one power a rule."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.rules.loader import parse_rules
from workers.scoring import engagement
from workers.scoring.contact import ContactState, from_table, ledger_from_table, to_table
from workers.scoring.engagement import (
    CAP_ID,
    MAX_LEDGER,
    EngagementScorer,
    Entry,
    Interaction,
)

DAY = 86400.0


def scorer_for(decay: str) -> EngagementScorer:
    rules = parse_rules(f"""
version: ledger
scoring:
  engagement:
    rules:
      - {{id: open, kind: email_open, points: 1, cap: {{count: 3, per: 1d}}}}
      - {{id: open-any, kind: email_open, points: 0.5, cap: {{count: 2, per: 2d}}}}
      - {{id: open-never, kind: email_open, points: 7, cap: {{count: 0, per: 1d}}}}
      - {{id: demo, kind: demo_request, points: 25}}
      - {{id: visit, kind: page_view, points: 2.5}}
    decay: {{kind: {decay}, period: 3d}}
    max_total: 40
  sales_ready: {{threshold: 30}}
""")
    return EngagementScorer(rules.scoring.engagement)


def record_plain(
    s: EngagementScorer, ledger: Sequence[Entry], i: Interaction, limit: int = MAX_LEDGER
) -> list[Entry]:
    entries = list(ledger)
    if any(e[3] == i.event_id for e in entries):
        return entries
    for rule in s.rules:
        if not rule.matches(i):
            continue
        if rule.cap_count is not None:
            lo = i.at - rule.cap_window
            used = sum(1 for e in entries if e[0] == rule.id and lo < e[2] <= i.at)
            if used >= rule.cap_count:
                continue
        entries.append((rule.id, rule.cents, i.at, i.event_id))
    entries.sort(key=lambda e: e[2])
    return entries[-limit:]


def contributions_plain(
    s: EngagementScorer, ledger: Sequence[Entry], now: float
) -> list[tuple[str, int]]:
    per_rule = decayed_plain(s, ledger, now)
    order = [r.id for r in s.rules]  # the rules' order, each once
    out = [(r, round(per_rule[r])) for r in sorted(per_rule, key=order.index)]
    out = [(r, c) for r, c in out if c != 0]
    total = sum(c for _, c in out)
    if s.max_cents is not None and total > s.max_cents:
        out.append((CAP_ID, s.max_cents - total))
    return out


def decayed_plain(s: EngagementScorer, ledger: Sequence[Entry], now: float) -> dict[str, float]:
    per_rule: dict[str, float] = defaultdict(float)
    for rule_id, _, at, _ in ledger:
        points = s.points_by_id.get(rule_id)
        if points is not None:
            per_rule[rule_id] += points * s.factor(now - at)
    return per_rule


def next_change_plain(
    s: EngagementScorer, ledger: Sequence[Entry], now: float, interval: float
) -> float | None:
    if not ledger or s.decay_kind == "none":
        return None
    if s.decay_kind == "expire":
        ends = [e[2] + s.decay_period for e in ledger if e[2] + s.decay_period > now]
        return min(ends) if ends else None
    live = [e for e in ledger if now - e[2] < s._zero_after()]
    if not live:
        return None
    if s.decay_kind == "linear":
        return min(now + interval, max(e[2] for e in live) + s.decay_period)
    return now + interval


def _replays_alike(history: list[tuple[str, float, int]]) -> list[tuple[str, float, int]]:
    """An event id seen again is a replay of that event: its kind and time are the first's."""
    first: dict[int, tuple[str, float]] = {}
    return [(*first.setdefault(n, (kind, at)), n) for kind, at, n in history]


arrivals = st.lists(
    st.tuples(
        st.sampled_from(["email_open"] * 4 + ["demo_request", "page_view", "email_reply"]),
        # late events too, and whole hours: entries fall on the edges of the caps' windows
        st.integers(min_value=0, max_value=120).map(lambda hours: hours * 3600.0),
        st.integers(min_value=0, max_value=40),  # event ids repeat: replays add nothing
    ),
    max_size=60,
).map(_replays_alike)


@settings(max_examples=150, deadline=None)
@given(
    decay=st.sampled_from(["half_life", "linear", "expire", "none"]),
    history=arrivals,
    looks=st.lists(
        st.integers(min_value=0, max_value=1440).map(lambda hours: hours * 3600.0),
        min_size=1,
        max_size=4,
    ),
)
def test_the_ledger_fast_paths_equal_their_plain_definitions(
    decay: str, history: list[tuple[str, float, int]], looks: list[float]
) -> None:
    s = scorer_for(decay)
    ledger: list[Entry] = []
    for kind, at, n in history:
        interaction = Interaction(event_id=f"e{n}", kind=kind, at=1.8e9 + at)
        expected = record_plain(s, ledger, interaction)
        ledger = s.record(ledger, interaction)
        assert ledger == expected
    for look in looks:
        now = 1.8e9 + look
        assert s.contributions(ledger, now) == contributions_plain(s, ledger, now)
        assert s.prune(ledger, now) == [e for e in ledger if now - e[2] < s.horizon]
        assert s.next_change(ledger, now, 6 * 3600.0) == next_change_plain(
            s, ledger, now, 6 * 3600.0
        )


def test_a_late_engagement_goes_in_its_place_after_those_of_its_time() -> None:
    s = scorer_for("half_life")
    ledger = s.record([], Interaction("a", "page_view", 100.0))
    ledger = s.record(ledger, Interaction("b", "page_view", 300.0))
    ledger = s.record(ledger, Interaction("c", "page_view", 100.0))
    assert [e[3] for e in ledger] == ["a", "c", "b"]


def test_the_cap_counts_the_window_before_a_late_engagement() -> None:
    s = scorer_for("none")
    ledger: list[Entry] = []
    for n, at in enumerate([10 * DAY, 10 * DAY + 1, 10 * DAY + 2, 12 * DAY]):
        ledger = s.record(ledger, Interaction(f"o{n}", "email_open", at))
    late = s.record(ledger, Interaction("late", "email_open", 10 * DAY + 3))
    assert [e[0] for e in late if e[3] == "late"] == []  # three opens that day already
    earlier = s.record(ledger, Interaction("early", "email_open", 9 * DAY))
    assert [e[0] for e in earlier if e[3] == "early"] == ["open", "open-any"]


def test_an_entry_on_the_edge_of_the_cap_window_is_outside_it() -> None:
    s = scorer_for("none")
    ledger: list[Entry] = []
    for n, hours in enumerate([0, 23, 23, 24]):  # the window of the last is (0 h, 24 h]
        ledger = s.record(ledger, Interaction(f"o{n}", "email_open", hours * 3600.0))
    assert [e[3] for e in ledger if e[0] == "open"] == ["o0", "o1", "o2", "o3"]


def assert_same_points(
    fast: list[tuple[str, int]], s: EngagementScorer, ledger: Sequence[Entry], now: float
) -> None:
    """The decay sums' contributions are the plain definition's, but where a rule's points
    lie within a hair of half a hundredth (there the last bit of a power decides the
    rounding, as it may in either way of adding them up)."""
    plain = contributions_plain(s, ledger, now)
    if fast == plain:
        return
    ties = {r for r, v in decayed_plain(s, ledger, now).items() if abs(v % 1 - 0.5) < 1e-6}
    assert ties, (fast, plain)
    assert {r: c for r, c in fast if r not in ties and r != CAP_ID} == {
        r: c for r, c in plain if r not in ties and r != CAP_ID
    }


@settings(max_examples=150, deadline=None)
@given(
    history=arrivals,
    looks=st.lists(st.integers(min_value=0, max_value=1440), min_size=1, max_size=4),
    limit=st.sampled_from([5, 12, MAX_LEDGER]),
)
def test_decay_sums_kept_with_the_ledger_give_its_points(
    history: list[tuple[str, float, int]], looks: list[int], limit: int
) -> None:
    s = scorer_for("half_life")
    ledger: list[Entry] = []
    sums = None
    with pytest.MonkeyPatch.context() as patch:  # a short ledger: the size limit drops entries
        patch.setattr(engagement, "MAX_LEDGER", limit)
        for kind, at, n in history:
            interaction = Interaction(event_id=f"e{n}", kind=kind, at=1.8e9 + at)
            expected = record_plain(s, ledger, interaction, limit)
            assert s.record(ledger, interaction) == expected
            ledger, sums = s.record_summed(ledger, sums, interaction)
            assert ledger == expected
            assert sums is not None
            assert sums.size == len(ledger)
            fresh = s.decay_sums(ledger)
            assert fresh is not None
            for rule_id in set(sums.sums) | set(fresh.sums):
                kept, made = sums.sums.get(rule_id, 0.0), fresh.sums.get(rule_id, 0.0)
                scale = 2.0 ** ((fresh.anchor - sums.anchor) / sums.period)
                assert kept == pytest.approx(made * scale, rel=1e-9, abs=1e-9)
    for hours in sorted(looks):
        now = 1.8e9 + hours * 3600.0 + 0.25  # a quarter second off the hour: no exact ties
        assert_same_points(s.contributions(ledger, now, sums), s, ledger, now)
        ledger, sums = s.prune_summed(ledger, sums, now)
        assert sums is not None
        assert sums.size == len(ledger)


def test_decay_sums_made_for_another_ledger_or_half_life_are_not_used() -> None:
    s, other = scorer_for("half_life"), scorer_for("linear")
    ledger, sums = s.record_summed([], None, Interaction("a", "demo_request", 0.0))
    ledger, sums = s.record_summed(ledger, sums, Interaction("b", "page_view", 3600.0))
    assert sums is not None
    now = 5 * DAY
    assert s.contributions(ledger, now, sums) == contributions_plain(s, ledger, now)
    wrong = msgspec.structs.replace(sums, sums={"demo": 100.0})
    stale = msgspec.structs.replace(wrong, size=1)  # made for a ledger of one entry
    assert s.contributions(ledger, now, stale) == contributions_plain(s, ledger, now)
    longer = msgspec.structs.replace(wrong, period=sums.period * 2)  # another half-life
    assert s.contributions(ledger, now, longer) == contributions_plain(s, ledger, now)
    assert other.contributions(ledger, now, sums) == contributions_plain(other, ledger, now)
    assert other.record_summed(ledger, sums, Interaction("c", "page_view", 7200.0))[1] is None
    # an engagement newer than the clock counts in full: the entries decide, not the sums
    assert s.contributions(ledger, 1800.0, sums) == contributions_plain(s, ledger, 1800.0)
    # a state with its sums goes through the table as it was, and a state that a build before
    # the native core wrote (the entries, and the sums beside them) reads as the same state
    state = ContactState(
        contact_id="c-1", partition=0, ledger=ledger_from_table(ledger, msgspec.to_builtins(sums))
    )
    stored = orjson.loads(orjson.dumps(to_table(state)))
    assert from_table(stored) == state
    assert stored["ledger"]["entries"] == [list(e) for e in ledger]
    older = {**stored, "ledger": ledger, "decay": msgspec.to_builtins(sums)}
    assert from_table(orjson.loads(orjson.dumps(older))) == state


def test_decay_sums_are_made_anew_after_a_long_silence() -> None:
    s = scorer_for("half_life")  # a half-life of 3 days: 2 ** 64 is 192 days away
    ledger, sums = s.record_summed([], None, Interaction("a", "demo_request", 0.0))
    for n, days in enumerate([300.0, 700.0, 4000.0]):  # each past what a term may grow to
        ledger, sums = s.record_summed(ledger, sums, Interaction(f"v{n}", "page_view", days * DAY))
        assert sums is not None
        assert sums.anchor == days * DAY
        now = days * DAY + 5 * 3600.0
        assert s.contributions(ledger, now, sums) == contributions_plain(s, ledger, now)
