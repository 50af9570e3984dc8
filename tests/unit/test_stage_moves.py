"""Stage automation rules (issue 8): which opportunities a buyer action moves, and ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import OpportunityStageChanged, OpportunityUpserted
from workers.automation.errors import AutomationConfigError
from workers.automation.stage_moves import (
    BuyerAction,
    StageMoves,
    firing_move,
    make_move,
    move_id,
    with_pending,
)
from workers.opportunity.state import OpportunityState, apply_event
from workers.rules.errors import RulesError
from workers.rules.loader import parse_rules
from workers.rules.model import PipelineRule, StageMoveRule, StageRule

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
STAGES = ["contact", "qualification", "meeting", "proposal", "closing", "retention"]
SALES = PipelineRule(id="sales", stages=[StageRule(id=s) for s in STAGES])


def opp(stage: str = "qualification", status: str = "open", **kw: Any) -> OpportunityState:
    event = OpportunityUpserted(
        event_id=f"o-{stage}",
        occurred_at=T0,
        opportunity_id=kw.pop("opportunity_id", "o1"),
        contact_id="c1",
        pipeline_id=kw.pop("pipeline_id", "sales"),
        stage_id=stage,
        status=status,  # type: ignore[arg-type]
        **kw,
    )
    state = apply_event(None, event, partition=0)
    assert state is not None
    return state


def action(kind: str = "demo_request", event_id: str = "e1", **kw: Any) -> BuyerAction:
    return BuyerAction(
        opportunity_id="o1",
        contact_id="c1",
        kind=kind,
        at=T0.timestamp() + 60,
        event_id=event_id,
        **kw,
    )


def rule(**kw: Any) -> StageMoveRule:
    base: dict[str, Any] = {"id": "demo", "when": ["demo_request"], "to": "meeting"}
    return msgspec.convert({**base, **kw}, StageMoveRule)


def moves(*rules: StageMoveRule) -> StageMoves:
    return StageMoves(rules, [SALES])


def test_demo_request_moves_qualification_to_meeting() -> None:
    m = moves(rule(**{"from": ["qualification"]})).decide(opp(), action())
    assert m is not None
    assert (m.rule_id, m.to_stage) == ("demo", "meeting")
    assert m.move_id == move_id("demo", "o1", "e1")


def test_other_kinds_stages_and_pipelines_do_not_match() -> None:
    sm = moves(rule(**{"from": ["qualification"], "pipeline": "sales"}))
    assert sm.decide(opp(), action(kind="email_open")) is None
    assert sm.decide(opp("contact"), action()) is None
    assert sm.decide(opp(pipeline_id="renewals"), action()) is None


def test_never_for_a_closed_opportunity() -> None:
    assert moves(rule()).decide(opp(status="won"), action()) is None
    assert moves(rule()).decide(opp(status="lost"), action()) is None


def test_only_forward_unless_the_rule_allows_going_back() -> None:
    assert moves(rule()).decide(opp("proposal"), action()) is None
    assert moves(rule()).decide(opp("meeting"), action()) is None  # already there
    back = moves(rule(allow_backward=True)).decide(opp("proposal"), action())
    assert back is not None
    assert back.to_stage == "meeting"


def test_product_lines_narrow_the_match() -> None:
    sm = moves(rule(product_line="solar"))
    assert sm.decide(opp(product_line="solar"), action()) is not None
    assert sm.decide(opp(), action(product_line="solar")) is not None
    assert sm.decide(opp(product_line="heat"), action(product_line="heat")) is None
    # an engagement about one line never moves another line's opportunity
    any_line = moves(rule())
    assert any_line.decide(opp(product_line="heat"), action(product_line="solar")) is None
    assert any_line.decide(opp(product_line="heat"), action()) is not None


def test_source_narrows_the_match() -> None:
    sm = moves(rule(source="webinar"))
    assert sm.decide(opp(), action(source="webinar")) is not None
    assert sm.decide(opp(), action(source="ads")) is None


def test_first_matching_rule_wins_and_a_pending_move_is_not_asked_again() -> None:
    sm = moves(
        rule(id="quote", when=["quote_request"], to="proposal"),
        rule(id="demo"),
        rule(id="demo-late", to="proposal"),
    )
    state = opp()
    m = sm.decide(state, action())
    assert m is not None
    assert m.rule_id == "demo"
    waiting = with_pending(state, m, T0.timestamp())
    assert sm.decide(waiting, action(event_id="e2")) is None  # same target, CRM not yet answered
    quote = sm.decide(waiting, action(kind="quote_request", event_id="e3"))
    assert quote is not None
    assert quote.to_stage == "proposal"


def test_the_crm_answer_clears_the_pending_move() -> None:
    state = opp()
    m = moves(rule()).decide(state, action())
    assert m is not None
    waiting = with_pending(state, m, T0.timestamp())
    moved = apply_event(
        waiting,
        OpportunityStageChanged(
            event_id="sc",
            occurred_at=T0 + dt.timedelta(minutes=5),
            opportunity_id="o1",
            contact_id="c1",
            pipeline_id="sales",
            stage_id="meeting",
            status="open",
        ),
        0,
    )
    assert moved is not None
    assert moved.pending_move is None


def test_move_ids_derive_from_the_cause() -> None:
    assert move_id("r", "o1", "e1") == move_id("r", "o1", "e1")
    assert len({move_id("r", "o1", "e1"), move_id("r", "o1", "e2"), move_id("r", "o2", "e1")}) == 3
    f = firing_move("t1", "o1", "fir_x", "nurture")
    assert f.move_id == move_id("t1", "o1", "fir_x")
    assert f.to_stage == "nurture"


def test_make_move_carries_from_and_to_and_its_cause() -> None:
    state = opp()
    m = moves(rule()).decide(state, action())
    assert m is not None
    record = make_move(state, m, {"type": "engagement", "event_id": "e1"}, "e1", T0)
    assert (record.from_stage_id, record.to_stage_id, record.rule_id) == (
        "qualification",
        "meeting",
        "demo",
    )
    assert record.cause["event_id"] == "e1"
    assert record.move_id == m.move_id


def test_unknown_stage_or_no_order_is_a_config_error() -> None:
    with pytest.raises(AutomationConfigError, match="not in pipeline"):
        moves(rule(pipeline="sales", to="demo-done"))
    with pytest.raises(AutomationConfigError, match="stage order"):
        StageMoves([rule()], [])
    StageMoves([rule(**{"from": ["qualification"]})], [])  # named stages: fine without order


def test_rules_check_names_the_rule() -> None:
    text = """
version: v1
pipelines:
  - id: sales
    stages: [{id: qualification}, {id: meeting}]
automation:
  stage_moves:
    - {id: demo, when: demo_request, pipeline: sales, to: meting}
"""
    with pytest.raises(RulesError) as err:
        parse_rules(text, "rules.yaml")
    message = str(err.value)
    assert "rules.yaml" in message
    assert "automation.stage_moves[0]" in message
    assert "meting" in message


@given(
    stage=st.sampled_from(STAGES),
    to=st.sampled_from(STAGES),
    status=st.sampled_from(["open", "won", "lost"]),
    kind=st.sampled_from(["demo_request", "quote_request", "email_open"]),
)
def test_a_move_is_always_forward_and_never_for_closed(
    stage: str, to: str, status: str, kind: str
) -> None:
    sm = moves(
        rule(id="a", when=["demo_request", "quote_request"], to=to),
        rule(id="b", when=["quote_request"], to="proposal"),
    )
    m = sm.decide(opp(stage, status), action(kind=kind))
    if m is not None:
        assert status == "open"
        assert STAGES.index(m.to_stage) > STAGES.index(stage)


def test_a_replayed_cause_is_not_asked_again_even_after_a_later_move() -> None:
    sm = moves(rule(), rule(id="quote", when=["quote_request"], to="proposal"))
    state = opp()
    demo = sm.decide(state, action())
    assert demo is not None
    state = with_pending(state, demo, T0.timestamp())
    quote = sm.decide(state, action(kind="quote_request", event_id="e9"))
    assert quote is not None
    state = with_pending(state, quote, T0.timestamp())
    assert sm.decide(state, action()) is None  # demo-1 replayed: asked already in this visit
