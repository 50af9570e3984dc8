"""Per-opportunity state and how events change it. Pure: the agent stores it in a table.

- An event older than the state (by `occurred_at`) never moves the opportunity back.
- A stage visit begins when the opportunity enters a stage (or re-opens in one); its id is
  derived from the stage and the time it began, so a replay derives the same visit.
- Leaving the stage, closing (won/lost) or deleting ends the visit: its marks are dropped,
  so nothing pending for it fires.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from schemas.records import OpportunityDeleted, OpportunityEvent
from workers.triggers.schedule import Mark


class OpportunityState(msgspec.Struct, kw_only=True):
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

    @property
    def is_open(self) -> bool:
        return self.status == "open" and not self.deleted

    @property
    def entered(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.entered_at, dt.UTC)

    def mark(self, trigger_id: str) -> Mark | None:
        raw = self.marks.get(trigger_id)
        return Mark(raw[0], int(raw[1]), float(raw[2])) if raw else None

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
        pipeline_id=event.pipeline_id,
        stage_id=event.stage_id,
        status=status,
        owner_id=event.owner_id,
        amount=event.amount,
        currency=event.currency,
        product_line=event.product_line,
        probability=event.probability,
        expected_close_date=event.expected_close_date.isoformat()
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
    )


def to_table(state: OpportunityState) -> Any:
    return msgspec.to_builtins(state)


def from_table(raw: Any) -> OpportunityState | None:
    return None if raw is None else msgspec.convert(raw, OpportunityState)
