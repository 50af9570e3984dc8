"""Trigger firings as output records, with deterministic ids."""

from __future__ import annotations

import datetime as dt
import hashlib

from schemas.records import TriggerFiring
from workers.opportunity.state import OpportunityState
from workers.triggers.plan import Trigger
from workers.triggers.schedule import Due


def firing_id(trigger: Trigger, opportunity_id: str, visit: str, period: int) -> str:
    """The same firing always has the same id: (trigger, its plan, opportunity, visit, period)."""
    raw = f"{trigger.id}|{trigger.plan}|{opportunity_id}|{visit}|{period}"
    return "fir_" + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def make_firing(
    trigger: Trigger, state: OpportunityState, due: Due, now: dt.datetime
) -> TriggerFiring:
    return TriggerFiring(
        emitted_at=now,
        event_id=state.visit_event_id,
        firing_id=firing_id(
            trigger, state.opportunity_id, state.silence(trigger.inactivity), due.period
        ),
        trigger_id=trigger.id,
        opportunity_id=state.opportunity_id,
        contact_id=state.contact_id,
        pipeline_id=state.pipeline_id,
        stage_id=state.stage_id,
        period=due.period,
        due_at=due.due_at,
        fired_at=now,
        action=trigger.action,
    )
