"""A scorer remembers the lowest total alike by what was published (the published total and
sales-ready), and the newest contacts' profile lines while their field maps are the same: the
memory never changes an answer, and stays within its bound."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.rules.loader import parse_rules
from workers.scoring.contact import Snapshot, new_state
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


PROFILE_RULES = """
version: fit
scoring:
  profile:
    contact:
      - {id: status-hot, field: lead_status, equals: Hot, points: 20}
      - {id: title, field: title, regex: "^(ceo|cto)", points: 10}
    organization:
      - {id: big, field: employees, range: [100, 500], points: 15}
  engagement:
    rules: [{id: demo, kind: demo_request, points: 25}]
  sales_ready: {threshold: 40, hysteresis: 10}
"""

FIELDS = st.dictionaries(
    st.sampled_from(["lead_status", "title", "employees", "city"]),
    st.one_of(st.sampled_from(["Hot", "Cold", "CEO Jane", "cto", ""]), st.integers(0, 900)),
    max_size=3,
)
# a change of the contact's state: new CRM fields, new form fields, new organization fields,
# or none (an engagement, a decay re-score: the same field maps)
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2"]), st.sampled_from(["crm", "form", "org", "none"]), FIELDS
    ),
    max_size=25,
)


@given(CHANGES)
def test_the_profile_remembered_per_contact_is_the_one_computed(
    changes: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """Fields are replaced, never changed in place: a state keeps its maps' objects until an
    event brings new ones, and the profile remembered for them is what a fresh scorer finds."""
    scorer = Scorer(parse_rules(PROFILE_RULES))
    states = {key: new_state(key, 0) for key in ("c1", "c2")}
    for key, part, fields in changes:
        state = states[key]
        if part != "none":
            state = msgspec.structs.replace(state, **{f"{part}_fields": dict(fields)})
        states[key] = state
        fresh = Scorer(parse_rules(PROFILE_RULES))
        assert scorer.snapshot(state, 0.0) == fresh.snapshot(state, 0.0)


def test_the_profile_memory_keeps_the_newest_contacts() -> None:
    scorer = Scorer(parse_rules(PROFILE_RULES), profiles=2)
    for key in ["a", "b", "c", "a", "d"]:
        state = msgspec.structs.replace(new_state(key, 0), crm_fields={"lead_status": "Hot"})
        assert scorer.snapshot(state, 0.0).fit == 2000
        assert len(scorer._fits) <= 2
    assert list(scorer._fits) == ["a", "d"]
