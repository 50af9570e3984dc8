"""Typed records for every event of the contract (version 1).

Input events are tagged unions on `type`; each input topic accepts exactly the types the
contract lists for it. Unknown extra fields are accepted (the contract may add optional
fields); required ones, types, ranges and timestamps are enforced at decode time.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, TypeAlias

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
FieldValue: TypeAlias = str | int | float | bool | None
Fields: TypeAlias = dict[str, FieldValue]
OpportunityStatus = Literal["open", "won", "lost"]


class InputEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields common to every input event."""

    event_id: Id
    occurred_at: Timestamp
    schema_version: Literal[1] = 1


# --- crm.contacts ---------------------------------------------------------------------------
class ContactUpserted(InputEvent, frozen=True, kw_only=True, tag="contact.upserted"):
    contact_id: Id
    organization_id: Id | None = None
    owner_id: Id | None = None
    fields: Fields = {}


class ContactDeleted(InputEvent, frozen=True, kw_only=True, tag="contact.deleted"):
    contact_id: Id


# --- crm.organizations ----------------------------------------------------------------------
class OrganizationUpserted(InputEvent, frozen=True, kw_only=True, tag="organization.upserted"):
    organization_id: Id
    fields: Fields = {}


class OrganizationDeleted(InputEvent, frozen=True, kw_only=True, tag="organization.deleted"):
    organization_id: Id


# --- crm.form-submissions -------------------------------------------------------------------
class FormSubmitted(InputEvent, frozen=True, kw_only=True, tag="form.submitted"):
    contact_id: Id
    form_id: Id
    product_line: Id | None = None
    source: Id | None = None
    fields: Fields = {}


# --- crm.engagements ------------------------------------------------------------------------
class EngagementRecorded(InputEvent, frozen=True, kw_only=True, tag="engagement.recorded"):
    contact_id: Id
    kind: Id
    product_line: Id | None = None
    rep_id: Id | None = None
    source: Id | None = None
    campaign_id: Id | None = None


# --- crm.opportunities ----------------------------------------------------------------------
class _OpportunityEvent(InputEvent, frozen=True, kw_only=True):
    opportunity_id: Id
    contact_id: Id
    pipeline_id: Id
    stage_id: Id
    status: OpportunityStatus
    owner_id: Id | None = None
    amount: NonNegative | None = None
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)] | None = None
    expected_close_date: dt.date | None = None
    product_line: Id | None = None
    probability: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None


class OpportunityUpserted(_OpportunityEvent, frozen=True, kw_only=True, tag="opportunity.upserted"):
    pass


class OpportunityStageChanged(
    _OpportunityEvent, frozen=True, kw_only=True, tag="opportunity.stage_changed"
):
    pass


class OpportunityClosed(_OpportunityEvent, frozen=True, kw_only=True, tag="opportunity.closed"):
    pass


class OpportunityDeleted(_OpportunityEvent, frozen=True, kw_only=True, tag="opportunity.deleted"):
    pass


# --- crm.reps -------------------------------------------------------------------------------
class TimeRange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    end: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")]


class Interval(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start: Timestamp
    end: Timestamp


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Count = Annotated[int, msgspec.Meta(ge=0)]


class Capacity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    per_day: Count | None = None
    per_month: Count | None = None
    open_leads: Count | None = None


class RepUpserted(InputEvent, frozen=True, kw_only=True, tag="rep.upserted"):
    rep_id: Id
    product_lines: list[Id]
    active: bool
    timezone: Id | None = None
    working_hours: dict[Weekday, list[TimeRange]] | None = None
    out_of_office: list[Interval] = []
    capacity: Capacity | None = None
    weight: Annotated[float, msgspec.Meta(gt=0)] | None = None


class RepDeleted(InputEvent, frozen=True, kw_only=True, tag="rep.deleted"):
    rep_id: Id


# --- crm.rep-activities ---------------------------------------------------------------------
class _RepActivity(InputEvent, frozen=True, kw_only=True):
    contact_id: Id
    rep_id: Id
    assignment_id: Id | None = None
    reason: Text | None = None


class LeadAccepted(_RepActivity, frozen=True, kw_only=True, tag="lead.accepted"):
    pass


class LeadContacted(_RepActivity, frozen=True, kw_only=True, tag="lead.contacted"):
    pass


class LeadRejected(_RepActivity, frozen=True, kw_only=True, tag="lead.rejected"):
    pass


ContactEvent: TypeAlias = ContactUpserted | ContactDeleted
OrganizationEvent: TypeAlias = OrganizationUpserted | OrganizationDeleted
OpportunityEvent: TypeAlias = (
    OpportunityUpserted | OpportunityStageChanged | OpportunityClosed | OpportunityDeleted
)
RepEvent: TypeAlias = RepUpserted | RepDeleted
RepActivity: TypeAlias = LeadAccepted | LeadContacted | LeadRejected
AnyInput: TypeAlias = (
    ContactEvent
    | OrganizationEvent
    | FormSubmitted
    | EngagementRecorded
    | OpportunityEvent
    | RepEvent
    | RepActivity
)


# --- outputs --------------------------------------------------------------------------------
class Output(msgspec.Struct, frozen=True, kw_only=True):
    """Fields every output carries."""

    emitted_at: Timestamp


class CausedOutput(Output, frozen=True, kw_only=True):
    """An output some input caused: it names that input (a timer's output: the input its timer
    began with)."""

    event_id: Id


class DeadLetterError(msgspec.Struct, frozen=True):
    code: Id
    message: Text
    path: Text | None = None


class DeadLetter(Output, frozen=True, kw_only=True):
    event_id: Id | None  # the input's own event_id when it had one
    topic: Id
    partition: Annotated[int, msgspec.Meta(ge=0)]
    offset: Annotated[int, msgspec.Meta(ge=0)]
    key: str | None
    value: str
    error: DeadLetterError
    value_size: Annotated[int, msgspec.Meta(ge=0)] | None = None
    value_sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")] | None = None
    value_truncated: bool = False
    dead_letter_id: Id | None = None


class TriggerFiring(CausedOutput, frozen=True, kw_only=True):
    firing_id: Id
    trigger_id: Id
    opportunity_id: Id
    contact_id: Id
    pipeline_id: Id
    stage_id: Id
    period: Annotated[int, msgspec.Meta(ge=1)]
    due_at: Timestamp
    fired_at: Timestamp
    action: dict[str, FieldValue]


class ScoreContribution(msgspec.Struct, frozen=True):
    rule_id: Id
    points: float


class LeadScore(CausedOutput, frozen=True, kw_only=True):
    contact_id: Id
    fit: float
    engagement: float
    total: float
    stars: Annotated[int, msgspec.Meta(ge=0, le=5)]
    sales_ready: bool
    breakdown: list[ScoreContribution]
    rules_version: Id
    grade: Id | None = None
    owner_id: Id | None = None
    product_line: Id | None = None


class Reason(msgspec.Struct, frozen=True):
    code: Id
    text: Text


class LeadAssignment(CausedOutput, frozen=True, kw_only=True):
    assignment_id: Id
    contact_id: Id
    product_line: Id | None
    rep_id: Id | None
    decision: Literal["assigned", "owner_notified", "queued", "reassigned"]
    reason: Reason
    candidates: list[Id] = []
    due_at: Timestamp | None = None  # a decision an SLA expiry made: when that SLA expired


class OwnerChange(CausedOutput, frozen=True, kw_only=True):
    opportunity_id: Id
    contact_id: Id
    old_owner_id: Id | None
    new_owner_id: Id
    reason: Text


class StageMove(CausedOutput, frozen=True, kw_only=True):
    move_id: Id
    opportunity_id: Id
    contact_id: Id
    pipeline_id: Id
    from_stage_id: Id
    to_stage_id: Id
    rule_id: Id
    cause: dict[str, FieldValue]


class RepNotification(CausedOutput, frozen=True, kw_only=True):
    notification_id: Id
    rep_id: Id
    contact_id: Id
    kind: Literal["lead_sales_ready", "reply_received", "lead_assigned", "sla_warning"]
    context: dict[str, object]
