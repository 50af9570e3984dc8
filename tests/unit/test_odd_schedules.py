"""One odd opportunity never stalls its partition (issue 16.4): whatever its times (year 1,
year 9999, overflow edges), the due index, a rebuild and every tick go on for the others."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from workers.opportunity.state import OpportunityState
from workers.rules.loader import parse_rules
from workers.triggers.due_index import DueIndex
from workers.triggers.evaluate import evaluate, next_due
from workers.triggers.plan import TriggerSet

RULES = parse_rules("""
version: odd
triggers:
  - {id: daily, stage: proposal, every: 1d, action: {type: x}, catch_up: all}
  - {id: business, stage: proposal, every: 2d, action: {type: y},
     calendar: {kind: business_days, timezone: Europe/Bucharest}}
  - {id: silent, kind: inactivity, stage: proposal, every: 3d, action: {type: z}}
""")
TRIGGERS = TriggerSet.from_rules(RULES.triggers)
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC).timestamp()
EDGES = [
    -62135596800.0,  # 0001-01-01T00:00:00Z
    -62135596800.0 + 3600,
    253402300799.0,  # 9999-12-31T23:59:59Z
    253402300799.0 - 86400,
    -1.0,
    0.0,
    1e11,
    -1e11,
    1e15,
]


def opportunity(n: int, entered: float, activity: float = 0.0) -> OpportunityState:
    return OpportunityState(
        opportunity_id=f"o{n}", partition=0, contact_id=f"c{n}", pipeline_id="sales",
        stage_id="proposal", status="open", created_at=entered, entered_at=entered,
        visit=f"proposal@{n}", visit_event_id=f"e{n}", updated_at=entered,
        last_event_id=f"e{n}", last_activity_at=activity,
    )  # fmt: skip


YEARS_60 = 60 * 365.25 * 86400
odd_time = st.one_of(  # times no CRM event plausibly has: centuries away, overflow edges
    st.sampled_from(EDGES),
    st.floats(min_value=-1e16, max_value=T0 - YEARS_60),
    st.floats(min_value=T0 + YEARS_60, max_value=1e16),
)


@given(
    odd=st.lists(st.tuples(odd_time, st.one_of(st.just(0.0), odd_time)), min_size=1, max_size=5),
    normal=st.lists(st.floats(min_value=0, max_value=10 * 86400), min_size=1, max_size=5),
)
def test_odd_entries_never_stop_the_others_from_firing(
    odd: list[tuple[float, float]], normal: list[float]
) -> None:
    states = {
        f"o{i}": opportunity(i, entered, activity) for i, (entered, activity) in enumerate(odd)
    }
    base = len(states)
    for j, offset in enumerate(normal):
        states[f"o{base + j}"] = opportunity(base + j, T0 + offset)
    index = DueIndex()  # a rebuild after a restart: every state, in any order
    for key, state in reversed(states.items()):
        index.set(key, next_due(state, TRIGGERS))
    fired: set[str] = set()
    now = T0
    for _ in range(40):  # ticks, a day apart
        now += 86400
        for key in index.pop_due(now):
            result = evaluate(states[key], TRIGGERS, dt.datetime.fromtimestamp(now, dt.UTC), 60)
            if result.firings:
                fired.add(key)
            states[key] = result.state
            index.set(key, result.next_due)
    for j in range(len(normal)):
        assert f"o{base + j}" in fired, (odd, normal)


def test_a_nan_due_never_blocks_the_heap() -> None:
    index = DueIndex()
    index.set("odd", float("nan"))
    index.set("ok", 10.0)
    assert index.pop_due(11.0) == ["ok"]
    index.set("inf", float("inf"))
    assert index.next_due() is None
