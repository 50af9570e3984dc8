"""A scorer remembers the lowest total alike by what was published (the published total and
sales-ready): the memory never changes an answer, and starts over when full."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.rules.loader import parse_rules
from workers.scoring.contact import Snapshot
from workers.scoring.scorer import Scorer

RULES = """
version: memory
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 25}]
  stars: {bands: [10, 25, 40, 60, 90]}
  sales_ready: {threshold: 40, hysteresis: 10}
  publish_resolution: 0.5
"""


def snap(total: int, ready: bool, fit: int = 0) -> Snapshot:
    return Snapshot(fit, total - fit, total, 0, None, ready, [], "memory")


@given(st.lists(st.tuples(st.integers(0, 12_000), st.booleans(), st.integers(0, 3_000))))
def test_the_lowest_total_remembered_is_the_one_computed(
    asked: list[tuple[int, bool, int]],
) -> None:
    scorer = Scorer(parse_rules(RULES))
    for total, ready, fit in asked:  # the same published score asked again, with other fits
        fresh = Scorer(parse_rules(RULES))
        last, now = snap(total, ready), snap(max(total, fit), ready, fit)
        assert scorer._lowest_total(last, now) == fresh._lowest_total(last, now)


def test_the_memory_starts_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.scoring.scorer.MEMO_SIZE", 2)
    scorer, fresh = Scorer(parse_rules(RULES)), Scorer(parse_rules(RULES))
    for total in [4_000, 2_500, 6_100, 4_000, 900, 2_500]:
        last = snap(total, True)
        assert scorer._lowest_total(last, last) == fresh._floor(last)
        assert len(scorer._lowest) <= 2
