"""The simulator's weighted draw (workers/simulate/weighted.py): the item `random.choices`
would pick from the same weights, while items are added and weights change."""

from __future__ import annotations

import random
from bisect import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.simulate.errors import SimulationError
from workers.simulate.weighted import WeightedPicker

# whole-number weights: every running sum is exact, so the two draws must agree to the item
weights = st.lists(st.integers(0, 1000).map(float), min_size=1, max_size=80)
changes = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 1000).map(float)), max_size=30)


def choices_index(ws: list[float], u: float) -> int:
    """The index `random.choices(k=1)` takes for the draw `u` in [0, 1)."""
    sums, total = [], 0.0
    for w in ws:
        total += w
        sums.append(total)
    return bisect(sums, u * sums[-1], 0, len(ws) - 1)


@given(weights, changes, st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1))
def test_picks_what_choices_picks_from_the_same_weights(
    ws: list[float], edits: list[tuple[int, float]], draws: list[float]
) -> None:
    picker: WeightedPicker[int] = WeightedPicker()
    current: list[float] = []
    for i, w in enumerate(ws):
        picker.add(i, w)
        current.append(w)
        assert picker.total() == sum(current)
    for at, w in edits:
        picker.set(at % len(current), w)
        current[at % len(current)] = w
    assert picker.total() == sum(current)
    if sum(current) == 0:
        return
    for u in draws:
        assert picker.find(u * picker.total()) == choices_index(current, u)
    # on the boundaries of each item's share, too
    total, running = sum(current), 0.0
    for w in current:
        running += w
        u = running / total
        if u < 1.0:
            assert picker.find(u * total) == choices_index(current, u)


def test_a_draw_follows_the_weights() -> None:
    picker: WeightedPicker[str] = WeightedPicker()
    for item, weight in (("a", 1.0), ("b", 0.0), ("c", 3.0)):
        picker.add(item, weight)
    rng = random.Random(4)
    drawn = [picker.pick(rng) for _ in range(4000)]
    assert "b" not in drawn
    assert 0.2 < drawn.count("a") / len(drawn) < 0.3
    picker.set(1, 4.0)
    drawn = [picker.pick(rng) for _ in range(4000)]
    assert 0.45 < drawn.count("b") / len(drawn) < 0.55


def test_bad_weights_and_an_empty_draw_are_refused() -> None:
    picker: WeightedPicker[str] = WeightedPicker()
    with pytest.raises(SimulationError, match="nothing to pick"):
        picker.pick(random.Random(1))
    with pytest.raises(SimulationError, match="zero or more"):
        picker.add("a", -1.0)
    picker.add("a", 1.0)
    with pytest.raises(SimulationError, match="zero or more"):
        picker.set(0, float("nan"))
