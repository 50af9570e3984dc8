"""Typed model of the rules file. Sections are added by the capabilities that use them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Scalar = str | int | float | bool | None


class CalendarRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How a trigger counts time: every second, or only the seconds of working days."""

    kind: Literal["calendar_days", "business_days"] = "calendar_days"
    weekdays: list[str] = msgspec.field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    holidays: list[dt.date] = []
    timezone: str = "UTC"


class TriggerRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A timer on an open opportunity in `stage`.

    `time_in_stage` (source 000) fires every `every` while the opportunity stays in the stage.
    `inactivity` (source 004, leads gone silent) fires when the contact has had no engagement
    for `every` (counted from the later of the stage entry and the last engagement), once per
    silence period unless `max_firings` says more; the next engagement re-arms it.
    An action with `move_to` also asks the CRM to move the opportunity to that stage.
    """

    id: Name
    stage: Name
    every: str
    action: dict[str, Scalar]
    kind: Literal["time_in_stage", "inactivity"] = "time_in_stage"
    pipeline: Name = "*"
    max_firings: Annotated[int, msgspec.Meta(ge=1)] | None = None
    calendar: CalendarRule = CalendarRule()
    catch_up: Literal["latest", "all", "none"] = "latest"
    active: bool = True


class SchedulerRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How often due timers are looked for, and when a due period counts as missed."""

    tick_interval: str = "500ms"
    catch_up_grace: str = "60s"
    backlog_hold: str = "5m"
    allowed_lateness: str = "0s"  # how long after its occurred_at an input may be written


class ProfileRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Points when a CRM field matches; per field only the best matching rule counts."""

    id: Name
    field: Name
    points: float
    equals: Scalar | None = None
    in_: list[Scalar] | None = msgspec.field(default=None, name="in")
    range: Annotated[list[float], msgspec.Meta(min_length=2, max_length=2)] | None = None
    contains: str | None = None
    exists: bool | None = None
    regex: str | None = None


class ProfileRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    contact: list[ProfileRule] = []
    organization: list[ProfileRule] = []


class EngagementCap(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    count: Annotated[int, msgspec.Meta(ge=0)]
    per: str


class EngagementRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Points for an engagement kind (or `form_submitted`), optionally narrowed."""

    id: Name
    kind: Name
    points: float
    source: Name | None = None
    form: Name | None = None
    product_line: Name | None = None
    cap: EngagementCap | None = None


class DecayRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: Literal["none", "half_life", "linear", "expire"] = "none"
    period: str = "30d"


class EngagementRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    rules: list[EngagementRule] = []
    decay: DecayRule = DecayRule()
    max_total: float | None = None


class StarsRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Total → 0–5 stars: `bands` are the totals for 1..5 stars, or a share of `ideal`."""

    bands: Annotated[list[float], msgspec.Meta(min_length=5, max_length=5)] | None = None
    ideal: float | None = None
    grades: dict[str, float] = {}


class SalesReadyRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    threshold: float = 60.0
    hysteresis: Annotated[float, msgspec.Meta(ge=0)] = 10.0


class ScoringRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    profile: ProfileRules = ProfileRules()
    engagement: EngagementRules = EngagementRules()
    stars: StarsRule = StarsRule(bands=[10.0, 25.0, 40.0, 60.0, 80.0])
    sales_ready: SalesReadyRule = SalesReadyRule()
    rescore_interval: str = "1h"
    # a score is published when its total rounded to this many points, its stars, grade or
    # sales-ready state changed (decay moves the exact total on every re-score)
    publish_resolution: Annotated[float, msgspec.Meta(gt=0)] = 1.0


class RoutingPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How leads of one product line reach reps (source 001).

    `all_passed` says what happens to a lead once every active rep of the line has let its SLA
    expire or rejected it: `reset` starts a new round (its exclusions are cleared, it goes to
    the best eligible rep again); `escalate` gives it to `escalate_to` (a rep id: the line's
    manager), who has no SLA on it. Either way the decision's code is `all_reps_passed`.
    """

    policy: Literal["relationship_owner", "round_robin", "load_balanced", "weighted"] = (
        "round_robin"
    )
    fallback: Literal["round_robin", "load_balanced", "weighted"] = "round_robin"
    ignore_hours: bool = False
    sla: str | None = "4h"
    sla_clock: Literal["working_hours", "calendar"] = "working_hours"  # counted on the rep's hours
    all_passed: Literal["reset", "escalate"] = "reset"
    escalate_to: Name | None = None


class RoutingRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    lead_model: Literal["single", "per_product_line"] = "single"
    default: RoutingPolicy = RoutingPolicy()
    product_lines: dict[str, RoutingPolicy] = {}

    def policy_for(self, product_line: str) -> RoutingPolicy:
        return self.product_lines.get(product_line, self.default)


class OwnerSyncRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Opportunity owners follow the contact's owner: open ones by default, closed ones not."""

    open: bool = True
    closed: bool = False


class StageRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Name
    probability: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    normal: str | None = None  # how long a deal normally stays; longer is "stuck"


class PipelineRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A sales pipeline (source 003/004): stages in order, and which stages mean won or lost."""

    id: Name
    stages: list[StageRule]
    won_stages: list[Name] = []
    lost_stages: list[Name] = []


class StageMoveRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A buyer action moves an opportunity (sources 003, 004): engagement kind → stage `to`.

    It applies to each open opportunity of the contact in `pipeline` at one of the `from`
    stages; `product_line` and `source` narrow the engagement. Only forward moves (by the
    pipeline's stage order) unless `allow_backward`.
    """

    id: Name
    when: Name | list[Name]  # engagement kind(s); not `on`, which YAML reads as true
    to: Name
    from_: list[Name] = msgspec.field(default_factory=lambda: ["*"], name="from")
    pipeline: Name = "*"
    product_line: Name | None = None
    source: Name | None = None
    allow_backward: bool = False


class AutomationRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    stage_moves: list[StageMoveRule] = []


class NotificationRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Rep notifications (source 001); each kind can be switched off."""

    lead_sales_ready: bool = True
    reply_received: bool = True
    lead_assigned: bool = True
    sla_warning_before: str | None = "30m"  # one warning this long before the SLA expires


class AnalyticsRules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    window: str = "90d"  # trailing window of won/lost counts, win rate, deal size, cycle


class Rules(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole rules file."""

    version: Name
    engagement_kinds: list[Name] = []  # kinds your CRM sends beyond the contract's
    scheduler: SchedulerRule = SchedulerRule()
    triggers: list[TriggerRule] = []
    scoring: ScoringRules = ScoringRules()
    routing: RoutingRules = RoutingRules()
    owner_sync: OwnerSyncRules = OwnerSyncRules()
    pipelines: list[PipelineRule] = []
    analytics: AnalyticsRules = AnalyticsRules()
    automation: AutomationRules = AutomationRules()
    notifications: NotificationRules = NotificationRules()
