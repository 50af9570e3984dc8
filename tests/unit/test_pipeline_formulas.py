from __future__ import annotations

import pytest

from workers.pipeline.formulas import Sizing, mean, median, p90, size, velocity_per_day, win_rate


def test_source_004_sizing_example_comes_out_exactly() -> None:
    assert size(100_000, 500, 0.8, 10) == Sizing(deals=200, leads=250, leads_per_rep=25)


def test_sizing_rounds_each_step_up() -> None:
    assert size(100_001, 500, 0.3, 7) == Sizing(201, 670, 96)


def test_sizing_refuses_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="close rate"):
        size(1000, 500, 0, 3)


def test_win_rate_velocity_and_averages_by_hand() -> None:
    assert win_rate(3, 1) == 0.75
    assert win_rate(0, 0) is None
    # 40 open deals × 0.25 × 2,000 / 50 days = 400 a day
    assert velocity_per_day(40, 0.25, 2000.0, 50.0) == 400.0
    assert velocity_per_day(40, None, 2000.0, 50.0) is None
    assert median([10, 30, 20, 40]) == 25
    assert mean([10, 20]) == 15
    assert p90(list(range(1, 11))) == 9
