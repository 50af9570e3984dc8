"""A scorer remembers a contact's fit by the very field dicts it came from, and the lowest
total alike by what was published: neither memory changes an answer."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.rules.loader import parse_rules
from workers.scoring.contact import ContactState
from workers.scoring.scorer import Scorer

RULES = """
version: memory
scoring:
  profile:
    contact:
      - {id: hot, field: lead_status, equals: Hot, points: 20}
      - {id: warm, field: lead_status, equals: Warm, points: 7.5}
      - {id: city, field: city, equals: Greenville, points: 10}
    organization:
      - {id: maker, field: industry, equals: Manufacturing, points: 15}
  engagement:
    rules: [{id: demo, kind: demo_request, points: 25}]
  sales_ready: {threshold: 40, hysteresis: 10}
"""
statuses = st.sampled_from(["Hot", "Warm", "Cold"])
fields = st.dictionaries(st.sampled_from(["lead_status", "city", "industry"]), statuses, max_size=3)


def plain_fit(scorer: Scorer, state: ContactState) -> list[tuple[str, int]]:
    contact = scorer.contact.contributions({**state.form_fields, **state.crm_fields})
    return contact + scorer.organization.contributions(state.org_fields)


@given(st.lists(st.tuples(fields, fields, fields, st.integers(0, 3)), min_size=1, max_size=12))
def test_the_fit_remembered_is_the_fit_computed(
    changes: list[tuple[dict[str, str], dict[str, str], dict[str, str], int]],
) -> None:
    scorer, fresh = Scorer(parse_rules(RULES)), Scorer(parse_rules(RULES))
    state = ContactState(contact_id="c", partition=0)
    for form, crm, org, which in changes:  # one field set changed at a time, or none
        if which == 0:
            state = msgspec.structs.replace(state, form_fields=dict(form))
        elif which == 1:
            state = msgspec.structs.replace(state, crm_fields=dict(crm))
        elif which == 2:
            state = msgspec.structs.replace(state, org_fields=dict(org))
        assert scorer.fit(state) == plain_fit(fresh, state)


def test_the_memories_start_over_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.scoring.scorer.MEMO_SIZE", 2)
    scorer = Scorer(parse_rules(RULES))
    for status in ["Hot", "Warm", "Cold", "Hot", "Warm"]:
        state = ContactState(contact_id="c", partition=0, crm_fields={"lead_status": status})
        assert scorer.fit(state) == plain_fit(scorer, state)
        assert len(scorer._fits) <= 2
