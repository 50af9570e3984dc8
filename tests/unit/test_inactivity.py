"""Inactivity triggers (issue 8): silence is noticed once per silence period, re-armed by
engagement, on the same scheduler and marks as time-in-stage triggers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import OpportunityUpserted
from workers.opportunity.state import OpportunityState, apply_activity, apply_event
from workers.rules.model import TriggerRule
from workers.triggers.evaluate import evaluate, next_due
from workers.triggers.firing import make_firing
from workers.triggers.plan import TriggerSet, compile_trigger

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
DAY = 86400.0


def trigger(**kw: Any) -> TriggerRule:
    base: dict[str, Any] = {
        "id": "silent",
        "kind": "inactivity",
        "stage": "proposal",
        "every": "14d",
        "action": {"type": "notify_owner"},
    }
    return msgspec.convert({**base, **kw}, TriggerRule)


def opp(stage: str = "proposal") -> OpportunityState:
    state = apply_event(
        None,
        OpportunityUpserted(
            event_id="o",
            occurred_at=T0,
            opportunity_id="o1",
            contact_id="c1",
            pipeline_id="sales",
            stage_id=stage,
            status="open",
        ),
        0,
    )
    assert state is not None
    return state


def at(days: float) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def run(
    state: OpportunityState, triggers: TriggerSet, days: float
) -> tuple[OpportunityState, list[str]]:
    result = evaluate(state, triggers, at(days), grace=60.0)
    ids = [make_firing(t, result.state, due, at(days)).firing_id for t, due in result.firings]
    return result.state, ids


def test_fires_after_the_silence_once_per_period() -> None:
    triggers = TriggerSet.from_rules([trigger()])
    state = opp()
    assert next_due(state, triggers) == at(14).timestamp()
    state, fired = run(state, triggers, 13.9)
    assert fired == []
    state, fired = run(state, triggers, 14.01)
    assert len(fired) == 1
    state, again = run(state, triggers, 40)  # still silent: once per silence period
    assert again == []
    assert next_due(state, triggers) is None


def test_an_engagement_in_time_rearms_and_nothing_fires() -> None:
    triggers = TriggerSet.from_rules([trigger()])
    state = opp()
    engaged = apply_activity(state, at(10).timestamp(), {"silent"})
    assert engaged is not None
    state, fired = run(engaged, triggers, 14.5)
    assert fired == []
    assert next_due(state, triggers) == at(24).timestamp()
    _, fired = run(state, triggers, 24.01)
    assert len(fired) == 1


def test_each_silence_period_fires_with_its_own_id() -> None:
    triggers = TriggerSet.from_rules([trigger()])
    state, first = run(opp(), triggers, 14.5)
    engaged = apply_activity(state, at(15).timestamp(), {"silent"})
    assert engaged is not None
    _, second = run(engaged, triggers, 29.5)
    assert len(first) == len(second) == 1
    assert first != second
    # a replay of the same silence derives the same id
    _, replay = run(opp(), triggers, 14.5)
    assert replay == first


def test_older_or_repeated_activity_changes_nothing() -> None:
    state = apply_activity(opp(), at(5).timestamp(), {"silent"})
    assert state is not None
    assert apply_activity(state, at(4).timestamp(), {"silent"}) is None
    assert apply_activity(state, at(5).timestamp(), {"silent"}) is None


def test_time_in_stage_marks_survive_activity() -> None:
    in_stage = trigger(id="stay", kind="time_in_stage", every="7d")
    triggers = TriggerSet.from_rules([trigger(), in_stage])
    state, fired = run(opp(), triggers, 7.5)
    assert len(fired) == 1
    engaged = apply_activity(state, at(8).timestamp(), {"silent"})
    assert engaged is not None
    assert "stay" in engaged.marks
    _, fired = run(engaged, triggers, 8.5)
    assert fired == []  # period 1 of the time-in-stage trigger does not fire again


def test_max_firings_defaults_to_one_for_inactivity_only() -> None:
    assert compile_trigger(trigger()).max_firings == 1
    assert compile_trigger(trigger(max_firings=3)).max_firings == 3
    assert compile_trigger(trigger(kind="time_in_stage")).max_firings is None


def test_move_to_in_the_action() -> None:
    t = compile_trigger(trigger(action={"type": "move", "move_to": "nurture"}))
    assert t.move_to == "nurture"
    assert compile_trigger(trigger()).move_to is None


@given(
    engagements=st.lists(st.floats(min_value=0, max_value=60), max_size=8),
    end=st.floats(min_value=0, max_value=90),
)
def test_fires_at_most_once_per_silence_and_only_after_14_quiet_days(
    engagements: list[float], end: float
) -> None:
    """Walk time forward with engagements; every firing follows 14 quiet days, and no
    silence period fires twice."""
    triggers = TriggerSet.from_rules([trigger(catch_up="all")])
    state = opp()
    fired: list[str] = []
    last = 0.0  # the last engagement (the stage entry at first)
    for day in [*sorted(e for e in engagements if e <= end), end]:
        state, ids = run(state, triggers, day)
        fired += ids
        assert not ids or day - last >= 14  # only after 14 quiet days
        engaged = apply_activity(state, at(day).timestamp(), {"silent"}) if day < end else None
        if engaged is not None:
            state, last = engaged, day
    assert len(set(fired)) == len(fired)


@given(
    stage=st.sampled_from(["proposal", "meeting", "closing"]),
    kinds=st.lists(st.sampled_from(["inactivity", "time_in_stage"]), min_size=1, max_size=3),
    stages=st.lists(st.sampled_from(["proposal", "meeting", "closing"]), min_size=3, max_size=3),
    days=st.lists(st.floats(min_value=0, max_value=60), min_size=1, max_size=6),
    fired=st.floats(min_value=0, max_value=60),
)
def test_a_buyer_action_moves_the_due_time_only_where_a_trigger_counts_from_activity(
    stage: str, kinds: list[str], stages: list[str], days: list[float], fired: float
) -> None:
    """Stage automation reschedules an opportunity after a buyer action only when
    `counts_activity` says a trigger of its stage counts from the last engagement: elsewhere
    the last engagement (and a pending move) leave the due time as it was."""
    rules = [
        trigger(id=f"t{i}", kind=kind, stage=stages[i], every=f"{3 + i}d", catch_up="all")
        for i, kind in enumerate(kinds)
    ]
    triggers = TriggerSet.from_rules(rules)
    silent = {r.id for r in rules if r.kind == "inactivity"}
    state, _ = run(opp(stage), triggers, fired)  # marks, where something fired
    for day in sorted(days):
        engaged = apply_activity(state, at(day).timestamp(), silent)
        if engaged is None:
            continue
        pending = msgspec.structs.replace(engaged, pending_move=("m", "closing", 1.0))
        if not triggers.counts_activity("sales", stage):
            assert next_due(engaged, triggers) == next_due(state, triggers)
            assert next_due(pending, triggers) == next_due(state, triggers)
        assert triggers.counts_activity("sales", stage) == any(
            r.kind == "inactivity" and r.stage == stage for r in rules
        )
        state = engaged
