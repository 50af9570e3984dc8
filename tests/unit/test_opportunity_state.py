from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import (
    OpportunityClosed,
    OpportunityDeleted,
    OpportunityStageChanged,
    OpportunityUpserted,
)
from workers.opportunity.state import OpportunityState, apply_event, from_table, to_table
from workers.triggers.due_index import DueIndex
from workers.triggers.schedule import Mark

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def event(kind: type = OpportunityUpserted, minutes: int = 0, **kw: object) -> object:
    fields = {
        "event_id": f"e{minutes}-{kind.__name__}",
        "occurred_at": T0 + dt.timedelta(minutes=minutes),
        "opportunity_id": "o1",
        "contact_id": "c1",
        "pipeline_id": "sales",
        "stage_id": "qualification",
        "status": "open",
        **kw,
    }
    return kind(**fields)


def apply(state: OpportunityState | None, ev: object) -> OpportunityState | None:
    return apply_event(state, ev, partition=3)  # type: ignore[arg-type]


def test_first_event_starts_a_visit() -> None:
    state = apply(None, event())
    assert state is not None
    assert (state.stage_id, state.entered_at, state.partition) == (
        "qualification",
        T0.timestamp(),
        3,
    )
    assert state.visit == f"qualification@{int(T0.timestamp() * 1000)}"
    assert state.is_open


def test_same_stage_keeps_the_visit_and_marks_other_stage_starts_a_new_one() -> None:
    state = apply(None, event())
    assert state is not None
    state = state.with_mark("t", Mark("p", 2, 1.0))
    same = apply(state, event(minutes=5, amount=100.0))
    assert same is not None
    assert same.visit == state.visit
    assert same.marks == state.marks
    moved = apply(same, event(OpportunityStageChanged, minutes=9, stage_id="meeting"))
    assert moved is not None
    assert moved.visit != state.visit
    assert moved.marks == {}
    back = apply(moved, event(OpportunityStageChanged, minutes=20))
    assert back is not None
    assert back.stage_id == "qualification"
    assert back.visit not in (state.visit, moved.visit)


def test_an_older_event_never_moves_the_opportunity_back_and_a_replay_changes_nothing() -> None:
    state = apply(None, event(minutes=10, stage_id="proposal"))
    assert state is not None
    assert apply(state, event(OpportunityStageChanged, minutes=5, stage_id="meeting")) is None
    assert apply(state, event(minutes=10, stage_id="proposal")) is None


def test_closing_and_deleting_end_the_visit_and_reopening_starts_a_new_one() -> None:
    state = apply(None, event())
    assert state is not None
    won = apply(state, event(OpportunityClosed, minutes=1, status="won"))
    assert won is not None
    assert not won.is_open
    assert won.closed_at == (T0 + dt.timedelta(minutes=1)).timestamp()
    reopened = apply(won, event(minutes=2))
    assert reopened is not None
    assert reopened.is_open
    assert reopened.visit != state.visit
    assert reopened.closed_at is None
    deleted = apply(reopened, event(OpportunityDeleted, minutes=3))
    assert deleted is not None
    assert not deleted.is_open


def test_state_round_trips_through_the_table_format() -> None:
    state = apply(None, event(amount=10.5, expected_close_date=dt.date(2026, 12, 1)))
    assert state is not None
    state = state.with_mark("t", Mark("p", 1, 5.0))
    raw = to_table(state)
    assert from_table(msgspec.json.decode(msgspec.json.encode(raw))) == state


@given(
    st.lists(st.tuples(st.sampled_from("abcdef"), st.none() | st.floats(0, 100)), max_size=200),
    st.floats(0, 100),
)
def test_due_index_pops_exactly_what_a_naive_model_would(
    ops: list[tuple[str, float | None]], now: float
) -> None:
    index, model = DueIndex(), {}
    for key, due in ops:
        index.set(key, due)
        if due is None:
            model.pop(key, None)
        else:
            model[key] = due
    assert len(index) == len(model)
    popped = index.pop_due(now)
    assert sorted(popped) == sorted(k for k, d in model.items() if d <= now)
    assert len(index) == len([d for d in model.values() if d > now])
    assert index.next_due() == min((d for d in model.values() if d > now), default=None)


@given(
    st.lists(
        st.tuples(
            st.sampled_from("abcdefgh"),
            st.none() | st.floats(0, 100, allow_nan=False) | st.just(float("nan")),
            st.none() | st.tuples(st.floats(0, 100), st.none() | st.integers(0, 4)),
        ),
        max_size=300,
    )
)
def test_due_index_interleaved_with_pops_is_the_naive_model(
    ops: list[tuple[str, float | None, tuple[float, int | None] | None]],
) -> None:
    """Keys moved later, earlier, removed and popped in any order: each pop gives the keys due,
    earliest first (ties by key), at most `limit`, as a sorted dict would."""
    index, model = DueIndex(), {}
    for key, due, pop in ops:
        index.set(key, due)
        if due is None or due != due:
            model.pop(key, None)
        else:
            model[key] = due
        if pop is not None:
            now, limit = pop
            expected = sorted((d, k) for k, d in model.items() if d <= now)[:limit]
            assert index.pop_due(now, limit) == [k for _, k in expected]
            for _, k in expected:
                del model[k]
        assert len(index) == len(model)
        assert index.due_at(key) == model.get(key)
        assert index.next_due() == min(model.values(), default=None)


def test_categorical_strings_are_one_object_per_value() -> None:
    """States kept long share their statuses, stage and pipeline ids, owners, currencies and
    product lines (workers/text.py): two decoded events' equal strings become one object."""
    decode = msgspec.json.Decoder(OpportunityUpserted)
    states = []
    for n in range(2):
        body = msgspec.json.encode(
            event(
                minutes=n,
                opportunity_id=f"o{n}",
                owner_id="rep-7",
                currency="EUR",
                product_line="pumps",
                expected_close_date=dt.date(2027, 1, 31),
            )
        )
        state = apply(None, decode.decode(body))
        assert state is not None
        states.append(state)
    a, b = states
    for name in (
        "pipeline_id", "stage_id", "status", "owner_id", "currency", "product_line",
        "expected_close_date",
    ):  # fmt: skip
        assert getattr(a, name) is getattr(b, name), name
