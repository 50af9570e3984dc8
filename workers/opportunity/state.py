"""Per-opportunity state and how events change it. Pure: the agent stores it in a table.

- An event older than the state (by `occurred_at`) never moves the opportunity back.
- A stage visit begins when the opportunity enters a stage (or re-opens in one); its id is
  derived from the stage and the time it began, so a replay derives the same visit.
- Leaving the stage, closing (won/lost) or deleting ends the visit: its marks are dropped,
  so nothing pending for it fires (what was due before the event that ends it fires first:
  workers/runtime/trigger_agents.py `_fire_at_exit`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from schemas.records import OpportunityDeleted, OpportunityEvent
from workers.text import shared


@dataclass(frozen=True, slots=True)
class Mark:
    """What a trigger has fired in the current visit: periods through `through` of `plan`."""

    plan: str
    through: int
    due: float  # epoch seconds of period `through`'s due time; 0.0 before any


class OpportunityState(msgspec.Struct, kw_only=True, gc=False):
    opportunity_id: str
    partition: int
    contact_id: str
    pipeline_id: str
    stage_id: str
    status: str
    owner_id: str | None = None
    amount: float | None = None
    currency: str | None = None
    product_line: str | None = None
    probability: float | None = None
    expected_close_date: str | None = None
    created_at: float  # epoch seconds of the first event seen
    entered_at: float  # epoch seconds the current stage visit began
    visit: str
    visit_event_id: str
    updated_at: float  # occurred_at of the last applied event
    last_event_id: str
    closed_at: float | None = None
    deleted: bool = False
    # trigger id -> [plan, through, due]
    marks: dict[str, tuple[str, int, float]] = {}
    # seconds spent in each stage over completed visits (pipeline analytics)
    stage_time: dict[str, float] = {}
    # the contact's last engagement seen by this opportunity (inactivity triggers)
    last_activity_at: float = 0.0
    # a stage move asked of the CRM and not yet answered: [move_id, to_stage, asked_at]
    pending_move: tuple[str, str, float] | None = None
    asked_moves: list[str] = []  # move ids asked during this visit (a replay asks none again)

    @property
    def is_open(self) -> bool:
        return self.status == "open" and not self.deleted

    @property
    def entered(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.entered_at, dt.UTC)

    def mark(self, trigger_id: str) -> Mark | None:
        raw = self.marks.get(trigger_id)
        return Mark(raw[0], int(raw[1]), float(raw[2])) if raw else None

    def anchor(self, inactivity: bool) -> float:
        """When a trigger's periods start: the stage entry, or for inactivity the later of the
        stage entry and the last engagement."""
        return max(self.entered_at, self.last_activity_at) if inactivity else self.entered_at

    def silence(self, inactivity: bool) -> str:
        """The stage visit, or for inactivity the silence period within it (for firing ids)."""
        if not inactivity:
            return self.visit
        return f"{self.visit}~{round(self.anchor(True) * 1000)}"

    def with_mark(self, trigger_id: str, mark: Mark) -> OpportunityState:
        return msgspec.structs.replace(
            self, marks={**self.marks, trigger_id: (mark.plan, mark.through, mark.due)}
        )


def visit_id(stage_id: str, entered_at: float) -> str:
    return f"{stage_id}@{round(entered_at * 1000)}"


def apply_event(
    state: OpportunityState | None, event: OpportunityEvent, partition: int
) -> OpportunityState | None:
    """The state after `event`, or None when the event changes nothing (older, or a replay)."""
    at = event.occurred_at.timestamp()
    if state is not None and (
        at < state.updated_at or (at == state.updated_at and event.event_id == state.last_event_id)
    ):
        return None
    deleted = isinstance(event, OpportunityDeleted)
    status = event.status
    new_visit = (
        state is None
        or state.stage_id != event.stage_id
        or state.pipeline_id != event.pipeline_id
        or (not state.is_open and status == "open" and not deleted)
    )
    entered_at = at if new_visit or state is None else state.entered_at
    stage_time = {} if state is None else state.stage_time
    leaving = new_visit or status != "open" or deleted  # the open visit ends here
    if state is not None and leaving and state.is_open:
        spent = max(0.0, at - state.entered_at)
        stage_time = {**stage_time, state.stage_id: stage_time.get(state.stage_id, 0.0) + spent}
    closed_at: float | None = None
    if status != "open":
        was_closed = state is not None and state.status != "open" and state.closed_at is not None
        closed_at = state.closed_at if was_closed and state is not None else at
    return OpportunityState(
        opportunity_id=event.opportunity_id,
        partition=partition,
        contact_id=event.contact_id,
        pipeline_id=shared(event.pipeline_id),
        stage_id=shared(event.stage_id),
        status=shared(status),
        owner_id=shared(event.owner_id),
        amount=event.amount,
        currency=shared(event.currency),
        product_line=shared(event.product_line),
        probability=event.probability,
        expected_close_date=shared(event.expected_close_date.isoformat())
        if event.expected_close_date
        else None,
        created_at=at if state is None else state.created_at,
        entered_at=entered_at,
        visit=visit_id(event.stage_id, entered_at),
        visit_event_id=event.event_id if new_visit or state is None else state.visit_event_id,
        updated_at=at,
        last_event_id=event.event_id,
        closed_at=closed_at,
        deleted=deleted,
        marks={} if new_visit or state is None else state.marks,
        stage_time=stage_time,
        last_activity_at=0.0 if state is None else state.last_activity_at,
        # the CRM answered (or moved it elsewhere): a new visit ends the wait
        pending_move=None if new_visit or state is None else state.pending_move,
        asked_moves=[] if new_visit or state is None else state.asked_moves,
    )


def apply_activity(
    state: OpportunityState, at: float, inactivity_ids: set[str]
) -> OpportunityState | None:
    """The contact engaged at `at`: a new silence period begins for the inactivity triggers
    (their marks are dropped). None when it changes nothing (older than the last one)."""
    if at <= state.last_activity_at:
        return None
    marks = state.marks
    if marks and not inactivity_ids.isdisjoint(marks):  # most states have no such mark
        marks = {k: v for k, v in marks.items() if k not in inactivity_ids}
    return msgspec.structs.replace(state, last_activity_at=at, marks=marks)


def to_table(state: OpportunityState) -> Any:
    """The state as a transaction takes it: the struct itself, encoded once at the commit."""
    return state


def from_table(raw: Any) -> OpportunityState | None:
    """The state as stored (JSON data), or as a batch left it (the struct itself, handed back
    as it is, without `msgspec.convert`'s call)."""
    if raw is None or type(raw) is OpportunityState:
        return raw
    return msgspec.convert(raw, OpportunityState)
