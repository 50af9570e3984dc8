"""The engagement ledger's fast paths equal the plain definitions they replace: a ledger kept
in order of time lets `record` place and cap from the newest entry back, `prune` and
`next_change` look at its ends, and `contributions` decays inline."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.rules.loader import parse_rules
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
      - {{id: demo, kind: demo_request, points: 25}}
      - {{id: visit, kind: page_view, points: 2.5}}
    decay: {{kind: {decay}, period: 3d}}
    max_total: 40
  sales_ready: {{threshold: 30}}
""")
    return EngagementScorer(rules.scoring.engagement)


def record_plain(s: EngagementScorer, ledger: Sequence[Entry], i: Interaction) -> list[Entry]:
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
    return entries[-MAX_LEDGER:]


def contributions_plain(
    s: EngagementScorer, ledger: Sequence[Entry], now: float
) -> list[tuple[str, int]]:
    per_rule: dict[str, float] = defaultdict(float)
    for rule_id, _, at, _ in ledger:
        points = s.points_by_id.get(rule_id)
        if points is not None:
            per_rule[rule_id] += points * s.factor(now - at)
    out = [(r, round(v)) for r, v in per_rule.items() if round(v) != 0]
    total = sum(c for _, c in out)
    if s.max_cents is not None and total > s.max_cents:
        out.append((CAP_ID, s.max_cents - total))
    return out


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


arrivals = st.lists(
    st.tuples(
        st.sampled_from(["email_open"] * 4 + ["demo_request", "page_view", "email_reply"]),
        # late events too, and whole hours: entries fall on the edges of the caps' windows
        st.integers(min_value=0, max_value=120).map(lambda hours: hours * 3600.0),
        st.integers(min_value=0, max_value=40),  # event ids repeat: replays add nothing
    ),
    max_size=60,
)


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
