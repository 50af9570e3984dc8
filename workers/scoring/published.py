"""A contact's published score: the `LeadScore` record a re-score's snapshot makes, and its
JSON as a worker sends it on crm.lead-scores (pure: the contacts engine and a backtest's score
sink both make it here)."""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.records import LeadScore, ScoreContribution
from workers.scoring.contact import ContactState, Snapshot

_encode = msgspec.json.Encoder().encode


def score_record(state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime) -> LeadScore:
    return LeadScore(
        emitted_at=now,
        event_id=event_id,
        contact_id=state.contact_id,
        fit=snap.fit / 100,
        engagement=snap.engagement / 100,
        total=snap.total / 100,
        stars=snap.stars,
        sales_ready=snap.ready,
        breakdown=[ScoreContribution(rule, c / 100) for rule, c in snap.breakdown],
        rules_version=snap.rules_version,
        grade=snap.grade,
        owner_id=state.owner_id,
        product_line=state.product_line,
    )


def score_json(state: ContactState, snap: Snapshot, event_id: str, now: dt.datetime) -> bytes:
    """The published score's JSON, as a worker sends it."""
    return _encode(score_record(state, snap, event_id, now))
