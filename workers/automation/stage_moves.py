"""Which open opportunities a buyer action moves, and the move requests themselves.

A rule (rules file, `automation.stage_moves`) matches an engagement by kind (and optionally
product line and source) and an opportunity by pipeline and current stage. Only forward moves
(by the pipeline's stage order in `pipelines`) unless the rule allows going back; never for a
closed opportunity; never while a move to the same stage is still waiting for the CRM.

`move_id` derives from (rule, opportunity, cause): replaying the cause asks nothing new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from schemas.records import StageMove
from workers.automation.errors import AutomationConfigError
from workers.opportunity.state import OpportunityState
from workers.rules.model import PipelineRule, StageMoveRule

ANY = "*"
MOVES = "crm.stage-moves"  # the topic of move requests (contract name)


class BuyerAction(msgspec.Struct, frozen=True, kw_only=True):
    """An engagement, forwarded from the contact's partition to one opportunity's."""

    opportunity_id: str
    contact_id: str
    kind: str
    at: float
    event_id: str
    product_line: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class MoveRule:
    id: str
    kinds: frozenset[str]
    to: str
    from_stages: frozenset[str]  # empty: any stage
    pipeline: str
    product_line: str | None
    source: str | None
    allow_backward: bool

    def matches(self, state: OpportunityState, action: BuyerAction) -> bool:
        if action.kind not in self.kinds or self.pipeline not in (ANY, state.pipeline_id):
            return False
        if self.from_stages and state.stage_id not in self.from_stages:
            return False
        if self.source is not None and action.source != self.source:
            return False
        lines = {x for x in (action.product_line, state.product_line) if x}
        if self.product_line is not None and self.product_line not in lines:
            return False
        # an engagement about one product line does not move another line's opportunity
        return not (action.product_line and state.product_line) or (
            action.product_line == state.product_line
        )


@dataclass(frozen=True)
class Move:
    rule_id: str
    to_stage: str
    move_id: str


class StageMoves:
    """The compiled `automation.stage_moves` rules and the pipelines' stage orders."""

    def __init__(self, rules: Iterable[StageMoveRule], pipelines: Iterable[PipelineRule]) -> None:
        self.order: dict[str, dict[str, int]] = {
            p.id: {s.id: i for i, s in enumerate(p.stages)} for p in pipelines
        }
        self.rules = [compile_rule(r, self.order) for r in rules]
        self.kinds = frozenset(k for r in self.rules for k in r.kinds)

    def decide(self, state: OpportunityState, action: BuyerAction) -> Move | None:
        """The first rule (file order) that moves this opportunity for this action."""
        if not state.is_open or action.kind not in self.kinds:
            return None
        for rule in self.rules:
            if not rule.matches(state, action) or rule.to == state.stage_id:
                continue
            if not rule.allow_backward and not self.is_forward(rule, state):
                continue
            if state.pending_move is not None and state.pending_move[1] == rule.to:
                return None  # already asked; the CRM has not answered yet
            move = Move(rule.id, rule.to, move_id(rule.id, state.opportunity_id, action.event_id))
            return None if move.move_id in state.asked_moves else move
        return None

    def is_forward(self, rule: MoveRule, state: OpportunityState) -> bool:
        order = self.order.get(state.pipeline_id)
        if order is None or state.stage_id not in order or rule.to not in order:
            return bool(rule.from_stages)  # no order known: only the stages the rule names
        return order[rule.to] > order[state.stage_id]


def compile_rule(rule: StageMoveRule, order: Mapping[str, Mapping[str, int]]) -> MoveRule:
    kinds = [rule.when] if isinstance(rule.when, str) else list(rule.when)
    if not kinds:
        raise AutomationConfigError("`when` names no engagement kind")
    from_stages = frozenset(s for s in rule.from_ if s != ANY)
    if rule.pipeline != ANY and rule.pipeline in order:
        stages = order[rule.pipeline]
        unknown = sorted(s for s in {rule.to, *from_stages} if s not in stages)
        if unknown:
            raise AutomationConfigError(
                f"stage {unknown[0]!r} is not in pipeline {rule.pipeline!r}"
            )
    elif not from_stages and not rule.allow_backward and (rule.pipeline != ANY or not order):
        raise AutomationConfigError(
            "with `from: *` a forward move needs the stage order: define `pipelines`, "
            "name the `from` stages, or set `allow_backward`"
        )
    return MoveRule(
        id=rule.id,
        kinds=frozenset(kinds),
        to=rule.to,
        from_stages=from_stages,
        pipeline=rule.pipeline,
        product_line=rule.product_line,
        source=rule.source,
        allow_backward=rule.allow_backward,
    )


def firing_move(trigger_id: str, opportunity_id: str, firing_id: str, to_stage: str) -> Move:
    """The move a trigger firing asks for (its action's `move_to`); the firing is the cause."""
    return Move(trigger_id, to_stage, move_id(trigger_id, opportunity_id, firing_id))


def move_id(rule_id: str, opportunity_id: str, cause_id: str) -> str:
    raw = f"{rule_id}|{opportunity_id}|{cause_id}"
    return "mov_" + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def make_move(
    state: OpportunityState,
    move: Move,
    cause: dict[str, str | float | None],
    event_id: str,
    now: dt.datetime,
) -> StageMove:
    return StageMove(
        emitted_at=now,
        event_id=event_id,
        move_id=move.move_id,
        opportunity_id=state.opportunity_id,
        contact_id=state.contact_id,
        pipeline_id=state.pipeline_id,
        from_stage_id=state.stage_id,
        to_stage_id=move.to_stage,
        rule_id=move.rule_id,
        cause=dict(cause),
    )


MAX_ASKED = 32  # move ids remembered per visit


def with_pending(state: OpportunityState, move: Move, now: float) -> OpportunityState:
    """The state once `move` was confirmed by the broker: pending, and asked in this visit."""
    asked = [*state.asked_moves, move.move_id][-MAX_ASKED:]
    return msgspec.structs.replace(
        state, pending_move=(move.move_id, move.to_stage, now), asked_moves=asked
    )
