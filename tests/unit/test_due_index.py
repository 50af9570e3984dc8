"""The native due index (workers/native/src/due.rs) against a sorted dict: ties by key as
Python orders strings, and a heap rebuilt when its stale entries outgrow it.
(tests/unit/test_opportunity_state.py holds it to the same model with distinct times.)"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.triggers.due_index import DueIndex, earliest_due

KEYS = st.text(alphabet="aAzé€😀0_-", min_size=0, max_size=4)


def pop_model(model: dict[str, float], now: float, limit: int | None) -> list[str]:
    due = sorted((d, k) for k, d in model.items() if d <= now)
    taken = [k for _, k in (due if limit is None else due[: max(limit, 0)])]
    for key in taken:
        del model[key]
    return taken


@given(
    st.lists(
        st.tuples(
            KEYS,
            st.none() | st.integers(0, 6).map(float),  # few times: many ties
            st.none() | st.tuples(st.integers(0, 6).map(float), st.none() | st.integers(-1, 5)),
        ),
        max_size=300,
    )
)
def test_ties_pop_in_key_order_as_python_orders_strings(
    ops: list[tuple[str, float | None, tuple[float, int | None] | None]],
) -> None:
    index, model = DueIndex(), dict[str, float]()
    for key, due, pop in ops:
        index.set(key, due)
        if due is None:
            model.pop(key, None)
        else:
            model[key] = due
        if pop is not None:
            now, limit = pop
            assert index.pop_due(now, limit) == pop_model(model, now, limit)
        assert len(index) == len(model)
        assert index.due_at(key) == model.get(key)
        assert index.next_due() == min(model.values(), default=None)


def test_a_heap_of_stale_entries_is_rebuilt_and_pops_the_same() -> None:
    """Each move earlier pushes an entry; past twice the keys (and 1,024) the heap is rebuilt
    from the keys' own times."""
    index, model = DueIndex(), dict[str, float]()
    for round_ in range(40):
        for n in range(200):
            key = f"k{n}"
            due = 10_000.0 - round_ * 100 - n % 7  # always earlier than before
            index.set(key, due)
            model[key] = due
    assert len(index) == 200
    assert index.pop_due(7_000.0, 50) == pop_model(model, 7_000.0, 50)
    assert index.pop_due(1e9) == pop_model(model, 1e9, None)
    assert len(index) == 0
    assert index.next_due() is None


def test_not_finite_times_unschedule_and_ints_are_times() -> None:
    index = DueIndex()
    index.set("a", 5)  # an int is a time, as in Python
    index.set("b", float("-inf"))
    index.set("c", float("inf"))
    assert len(index) == 1
    assert index.due_at("a") == 5.0
    index.set("a", float("nan"))
    assert len(index) == 0
    assert index.pop_due(1e18) == []


def test_earliest_due_over_partitions() -> None:
    indexes = {0: DueIndex(), 1: DueIndex()}
    indexes[0].set("x", 30.0)
    indexes[1].set("y", 20.0)
    assert earliest_due(indexes, 2) == 20.0
    assert earliest_due(indexes, 3) == float("-inf")  # partition 2 has no index yet
    indexes[1].pop_due(20.0)
    assert earliest_due(indexes, 2) == 30.0
